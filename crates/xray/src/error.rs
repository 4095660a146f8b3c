//! The X-Ray API's error type: each variant is one of the exceptions in X-Ray's service model.

/// A failed X-Ray API call.
#[derive(Debug, thiserror::Error)]
pub enum XRayError {
    /// The request is malformed or names something that does not exist.
    #[error("{0}")]
    InvalidRequest(String),
    /// CreateSamplingRule past the rule limit.
    #[error("{0}")]
    RuleLimitExceeded(String),
    /// A tagging call names an unknown resource.
    #[error("{message}")]
    ResourceNotFound {
        /// What is wrong.
        message: String,
        /// The ARN asked for.
        resource_name: String,
    },
    /// TagResource past the tag limit.
    #[error("{message}")]
    TooManyTags {
        /// What is wrong.
        message: String,
        /// The ARN asked for.
        resource_name: String,
    },
    /// The caller may not make this call here (an operation the daemon's port does not serve).
    #[error("{0}")]
    AccessDenied(String),
    /// The server is shutting down or starting: retry once it is back.
    #[error("{0}")]
    Unavailable(String),
    /// The server is busy (ingest or query limits).
    #[error("{0}")]
    Throttled(String),
    /// Stored state could not be read or written.
    #[error("{0}")]
    Internal(String),
}

impl XRayError {
    /// The exception name, for `x-amzn-ErrorType` and `__type`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "InvalidRequestException",
            Self::RuleLimitExceeded(_) => "RuleLimitExceededException",
            Self::ResourceNotFound { .. } => "ResourceNotFoundException",
            Self::TooManyTags { .. } => "TooManyTagsException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::Unavailable(_) => "ServiceUnavailableException",
            Self::Throttled(_) => "ThrottledException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status the AWS SDKs expect for it.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_) | Self::RuleLimitExceeded(_) | Self::TooManyTags { .. } => 400,
            Self::AccessDenied(_) => 403,
            Self::ResourceNotFound { .. } => 404,
            Self::Throttled(_) => 429,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The resource a not-found or too-many-tags error is about.
    pub fn resource_name(&self) -> Option<&str> {
        match self {
            Self::ResourceNotFound { resource_name, .. }
            | Self::TooManyTags { resource_name, .. } => Some(resource_name),
            _ => None,
        }
    }

    /// Shorthand for [`XRayError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }
}

impl From<combray_query::QueryError> for XRayError {
    fn from(error: combray_query::QueryError) -> Self {
        use combray_query::QueryError;
        match error {
            QueryError::InvalidArgument(m) | QueryError::NotFound(m) => Self::InvalidRequest(m),
            QueryError::LimitExceeded(m) => Self::Throttled(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<combray_storage::StorageError> for XRayError {
    fn from(error: combray_storage::StorageError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// Result of an X-Ray API call.
pub type XRayResult<T> = Result<T, XRayError>;
