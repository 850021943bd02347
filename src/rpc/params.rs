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
