//! Positional parameters, read with geth's error words: `missing value for required argument N`,
//! `invalid argument N: why`, `too many arguments, want at most N`. Owns nothing else.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::envelope::RpcError;

/// The parameters of one call.
pub struct Params<'a> {
    values: &'a [Value],
}

impl<'a> Params<'a> {
    /// Wraps `values`, refusing more than `max` of them.
    pub fn new(values: &'a [Value], max: usize) -> Result<Self, RpcError> {
        if values.len() > max {
            return Err(RpcError::invalid_params(format!(
                "too many arguments, want at most {max}"
            )));
        }
        Ok(Self { values })
    }

    /// Argument `i`, required (a `null` counts as missing, as in geth).
    pub fn req<T: DeserializeOwned>(&self, i: usize) -> Result<T, RpcError> {
        match self.values.get(i) {
            None | Some(Value::Null) => Err(RpcError::invalid_params(format!(
                "missing value for required argument {i}"
            ))),
            Some(v) => decode(i, v),
        }
    }

    /// Argument `i`, required, a block number, tag or index: [`Self::req`] after
    /// [`check_quantity`].
    pub fn quantity<T: DeserializeOwned>(&self, i: usize) -> Result<T, RpcError> {
        if let Some(v) = self.values.get(i) {
            check_quantity(i, v)?;
        }
        self.req(i)
    }

    /// Argument `i`, optional (absent or `null`: `None`).
    pub fn opt<T: DeserializeOwned>(&self, i: usize) -> Result<Option<T>, RpcError> {
        match self.values.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => decode(i, v).map(Some),
        }
    }
}

fn decode<T: DeserializeOwned>(i: usize, v: &Value) -> Result<T, RpcError> {
    T::deserialize(v).map_err(|e| RpcError::invalid_params(format!("invalid argument {i}: {e}")))
}

/// Refuses a quantity geth refuses that the decoding types accept: hex digits with a leading zero
/// (`"0x01"`; geth's hexutil: "hex number with leading zero digits"). `v` is the argument, or a
/// block object whose `blockNumber` is the quantity; anything else is left to the types.
pub fn check_quantity(i: usize, v: &Value) -> Result<(), RpcError> {
    let s = match v {
        Value::String(s) => s,
        Value::Object(o) => match o.get("blockNumber") {
            Some(Value::String(s)) => s,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    if digits.is_some_and(|d| d.len() > 1 && d.starts_with('0')) {
        return Err(RpcError::invalid_params(format!(
            "invalid argument {i}: hex number with leading zero digits"
        )));
    }
    Ok(())
}
