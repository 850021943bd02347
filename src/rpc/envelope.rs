//! The JSON-RPC 2.0 envelope: telling a call from a batch, a call from a notification, and
//! writing answers and error objects. Owns the error codes; never knows any method.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Valid JSON that is not a JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method (and every state method: histd serves history only).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Parameters of the wrong type or number.
pub const INVALID_PARAMS: i64 = -32602;
/// A failure while answering (geth's code for plain errors).
pub const SERVER_ERROR: i64 = -32000;
/// The request ran past the per-request time (geth's code).
pub const TIMEOUT: i64 = -32002;
/// A batch's answers passed `max_batch_response_bytes` (geth's code and words).
pub const RESPONSE_TOO_LARGE: i64 = -32003;
/// The answer would be larger than allowed (Infura's code, which indexers understand).
pub const LIMIT_EXCEEDED: i64 = -32005;
/// History we do not hold (geth's code for pruned history, after EIP-4444).
pub const PRUNED_HISTORY: i64 = 4444;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// Machine-readable detail (the -32005 hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32602 with `message`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// -32000 with `message`.
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(SERVER_ERROR, message)
    }

    /// Geth's answer for history it does not hold.
    pub fn pruned() -> Self {
        Self::new(PRUNED_HISTORY, "pruned history unavailable")
    }

    /// -32601 for `method`, in geth's words.
    pub fn no_method(method: &str) -> Self {
        Self::new(
            METHOD_NOT_FOUND,
            format!("the method {method} does not exist/is not available"),
        )
    }
}

/// One call taken out of the envelope.
#[derive(Debug)]
pub struct Call {
    /// The id to answer with; `None` for a notification (which gets no answer).
    pub id: Option<Value>,
    /// Method name.
    pub method: String,
    /// Positional parameters (absent or `null`: none).
    pub params: Vec<Value>,
}

/// What a body turned out to be.
#[derive(Debug)]
pub enum Incoming {
    /// One call, or a request that is not a valid call (answered with that error).
    Single(Result<Call, Answer>),
    /// A batch: each element parsed on its own.
    Batch(Vec<Result<Call, Answer>>),
    /// Not JSON, an empty batch or a batch over the limit: one error answer.
    Invalid(Answer),
}

/// One answer, ready to serialize.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    jsonrpc: &'static str,
    id: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Box<RawValue>>,
    // Boxed: an answer travels in `Err` while parsing, and most answers are results.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Box<RpcError>>,
}

impl Answer {
    /// A result for `id`.
    pub fn result(id: Value, result: Box<RawValue>) -> Self {
        Self {
            jsonrpc: "2.0",
            id,
            result: Some(result),
            error: None,
        }
    }

    /// An error for `id` (`null` when the request had none readable).
    pub fn error(id: Value, error: RpcError) -> Self {
        Self {
            jsonrpc: "2.0",
            id,
            result: None,
            error: Some(Box::new(error)),
        }
    }
}

/// The answers of one batch, collected within a budget of result bytes (geth's
/// `--rpc.batch-response-max-size`): once the answers pushed pass it, [`Self::is_full`] says so and
/// [`Self::finish`] answers every call not run yet with -32003 "response too large", so a small
/// body of many large calls cannot make the server hold an unbounded answer.
#[derive(Debug)]
pub struct BatchAnswers {
    out: Vec<Answer>,
    bytes: usize,
    max: usize,
}

impl BatchAnswers {
    /// An empty batch answer with a budget of `max` result bytes.
    pub fn new(max: usize) -> Self {
        Self {
            out: Vec::new(),
            bytes: 0,
            max,
        }
    }

    /// Adds one call's answer (none for a notification).
    pub fn push(&mut self, answer: Option<Answer>) {
        if let Some(a) = answer {
            self.bytes += a.result.as_ref().map_or(0, |r| r.get().len());
            self.out.push(a);
        }
    }

    /// Whether the budget is spent: the calls left are not to be run.
    pub fn is_full(&self) -> bool {
        self.bytes > self.max
    }

    /// The answers, each call in `rest` (not run) answered -32003; `None` when there is nothing
    /// to send (only notifications).
    pub fn finish(
        mut self,
        rest: impl Iterator<Item = Result<Call, Answer>>,
    ) -> Option<Vec<Answer>> {
        for call in rest {
            match call {
                Ok(Call { id: Some(id), .. }) => self.out.push(Answer::error(
                    id,
                    RpcError::new(RESPONSE_TOO_LARGE, "response too large"),
                )),
                Ok(_) => {}
                Err(a) => self.out.push(a),
            }
        }
        (!self.out.is_empty()).then_some(self.out)
    }
}

/// Parses a body (HTTP) or text message (WebSocket).
pub fn parse(body: &[u8], max_batch: usize) -> Incoming {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Invalid(Answer::error(
                Value::Null,
                RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
            ));
        }
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Incoming::Invalid(Answer::error(
                    Value::Null,
                    RpcError::new(INVALID_REQUEST, "empty batch"),
                ));
            }
            if items.len() > max_batch {
                return Incoming::Invalid(Answer::error(
                    Value::Null,
                    RpcError::new(
                        INVALID_REQUEST,
                        format!(
                            "batch too large: {} calls, at most {max_batch}",
                            items.len()
                        ),
                    ),
                ));
            }
            Incoming::Batch(items.into_iter().map(call).collect())
        }
        other => Incoming::Single(call(other)),
    }
}

fn invalid(id: Value, why: &str) -> Answer {
    Answer::error(
        id,
        RpcError::new(INVALID_REQUEST, format!("invalid request: {why}")),
    )
}

fn call(value: Value) -> Result<Call, Answer> {
    let Value::Object(mut obj) = value else {
        return Err(invalid(Value::Null, "not a JSON object"));
    };
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id),
        Some(_) => return Err(invalid(Value::Null, "id must be a number, string or null")),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if let Some(v) = obj.get("jsonrpc")
        && v != "2.0"
    {
        return Err(invalid(answer_id, "jsonrpc must be \"2.0\""));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid(answer_id, "method must be a string")),
        None => return Err(invalid(answer_id, "no method")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(p)) => p,
        Some(Value::Object(_)) => {
            return Err(Answer::error(
                answer_id,
                RpcError::invalid_params("non-array args"),
            ));
        }
        Some(_) => return Err(invalid(answer_id, "params must be an array")),
    };
    // Extra members are ignored, as geth does.
    let _: Map<String, Value> = obj;
    Ok(Call { id, method, params })
}
