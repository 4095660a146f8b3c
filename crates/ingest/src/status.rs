//! `google.rpc.Status`, the error body that OTLP/HTTP prescribes for every failure.

use prost::Message;

/// The fields of `google.rpc.Status` that Combray fills in (`details` stays empty).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` number.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Human-readable English.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `google.rpc.Code` numbers used by Combray's error answers.
pub mod code {
    /// The request was malformed.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// A size limit was passed.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// Internal failure.
    pub const INTERNAL: i32 = 13;
    /// The server cannot take more now; retry.
    pub const UNAVAILABLE: i32 = 14;
    /// Missing or unknown credentials.
    pub const UNAUTHENTICATED: i32 = 16;
    /// Credentials that may not do this.
    pub const PERMISSION_DENIED: i32 = 7;
    /// The content type or encoding is not supported.
    pub const UNIMPLEMENTED: i32 = 12;
}

impl RpcStatus {
    /// Binary protobuf encoding.
    pub fn to_protobuf(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Proto3 JSON encoding: `{"code": N, "message": "..."}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "code": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }
}
