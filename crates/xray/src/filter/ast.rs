//! The parsed form of an X-Ray filter expression.

use serde_json::Value as Json;

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Any of these holds.
    Or(Vec<Filter>),
    /// All of these hold (written with `AND`, or side by side).
    And(Vec<Filter>),
    /// `!x`: x does not hold.
    Not(Box<Filter>),
    /// A keyword, optionally compared with a value; alone it tests truth or presence.
    Compare(Comparison),
    /// `service(node) { filter }`: the trace reaches a matching node whose segments meet the
    /// filter. No node means any node.
    Service {
        /// Which node.
        node: Option<NodeRef>,
        /// What its segments must meet.
        filter: Option<Box<Filter>>,
    },
    /// `edge(from, to) { filter }`: the trace has a call between matching nodes.
    Edge {
        /// The caller.
        from: NodeRef,
        /// The callee.
        to: NodeRef,
        /// What the call must meet.
        filter: Option<Box<Filter>>,
    },
    /// `rootcause.<kind>.<level> { filter }`: some root cause of the trace meets the filter.
    RootCause {
        /// Fault, error or response time.
        kind: RootCauseKind,
        /// Service, entity or exception.
        level: RootCauseLevel,
        /// What it must meet.
        filter: Box<Filter>,
    },
    /// `rootcause.json = #[{...}, ...]`: a root cause matches one of these JSON patterns
    /// (present fields must equal, absent fields are wildcards).
    RootCauseJson(Vec<Json>),
}

/// `keyword [operator value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What is compared.
    pub field: Field,
    /// The operator and value; `None` tests truth (boolean keywords) or presence (the rest).
    pub test: Option<(Operator, Value)>,
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A built-in keyword.
    Keyword(Keyword),
    /// `annotation.KEY` or `annotation[KEY]`.
    Annotation(String),
}

/// The kind of value a keyword holds, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `ok`, `fault`, …: bare, `!`, `= true|false`, `!= true|false`.
    Boolean,
    /// `responsetime`, `http.status`, …: `= != < <= > >=` with a number.
    Number,
    /// `http.url`, `user`, …: `= != CONTAINS BEGINSWITH ENDSWITH` with a string.
    Text,
}

macro_rules! keywords {
    ($($variant:ident = $text:literal : $kind:ident),+ $(,)?) => {
        /// A built-in keyword of the filter language.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Keyword { $($variant),+ }

        impl Keyword {
            /// Every keyword, for error messages.
            pub const ALL: &'static [Keyword] = &[$(Keyword::$variant),+];

            /// Looks a keyword up, case-insensitively.
            pub fn parse(word: &str) -> Option<Self> {
                let lower = word.to_ascii_lowercase();
                match lower.as_str() {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// How the documentation spells it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The kind of value it holds.
            pub fn kind(self) -> ValueKind {
                match self { $(Self::$variant => ValueKind::$kind),+ }
            }
        }
    };
}

keywords! {
    Ok = "ok": Boolean,
    Error = "error": Boolean,
    Throttle = "throttle": Boolean,
    Fault = "fault": Boolean,
    Partial = "partial": Boolean,
    Inferred = "inferred": Boolean,
    First = "first": Boolean,
    Last = "last": Boolean,
    Remote = "remote": Boolean,
    Root = "root": Boolean,
    ResponseTime = "responsetime": Number,
    Duration = "duration": Number,
    HttpStatus = "http.status": Number,
    Index = "index": Number,
    Coverage = "coverage": Number,
    HttpUrl = "http.url": Text,
    HttpMethod = "http.method": Text,
    HttpUserAgent = "http.useragent": Text,
    HttpClientIp = "http.clientip": Text,
    User = "user": Text,
    Name = "name": Text,
    Type = "type": Text,
    Message = "message": Text,
    AvailabilityZone = "availabilityzone": Text,
    InstanceId = "instance.id": Text,
    ResourceArn = "resource.arn": Text,
    GroupName = "group.name": Text,
    GroupArn = "group.arn": Text,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    BeginsWith,
    EndsWith,
}

impl Operator {
    /// How it is written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "CONTAINS",
            Self::BeginsWith => "BEGINSWITH",
            Self::EndsWith => "ENDSWITH",
        }
    }

    /// Whether it compares order (numbers only).
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Lt | Self::Le | Self::Gt | Self::Ge)
    }

    /// Whether it is a text operator.
    pub fn is_textual(self) -> bool {
        matches!(self, Self::Contains | Self::BeginsWith | Self::EndsWith)
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string (or, leniently, a bare word).
    Text(String),
    /// A number.
    Number(f64),
    /// `true` or `false`.
    Bool(bool),
}

/// Which root causes a `rootcause.*` block looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RootCauseKind {
    Fault,
    Error,
    ResponseTime,
}

/// Which level of a root cause a `rootcause.*` block looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RootCauseLevel {
    Service,
    Entity,
    Exception,
}

/// A node: by name alone (`"api"`), or by any of name, type and account (`id(...)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeRef {
    /// The node's name.
    pub name: Option<String>,
    /// The node's type, such as `AWS::Lambda::Function`.
    pub node_type: Option<String>,
    /// The node's account id.
    pub account_id: Option<String>,
}
