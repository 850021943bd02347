//! EIP-2481 request ids: every eth/66+ request and response is `[request-id, payload]`.

/// A request or response with its EIP-2481 request id. The responder copies the request's id
/// into its response; ids need not be sequential and may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPair<T> {
    /// Chosen by the requester, echoed by the responder.
    pub request_id: u64,
    /// The request or response itself.
    pub message: T,
}

impl<T> RequestPair<T> {
    /// Pairs `message` with `request_id`.
    pub const fn new(request_id: u64, message: T) -> Self {
        Self {
            request_id,
            message,
        }
    }

    /// The answer to this request, carrying the same id.
    pub fn answer<U>(&self, message: U) -> RequestPair<U> {
        RequestPair {
            request_id: self.request_id,
            message,
        }
    }

    /// Transforms the message, keeping the id.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> RequestPair<U> {
        RequestPair {
            request_id: self.request_id,
            message: f(self.message),
        }
    }
}
