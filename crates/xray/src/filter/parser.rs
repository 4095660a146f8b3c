//! A recursive-descent parser for the filter language. Precedence, loosest first: `OR`, then
//! `AND` (written or implied by juxtaposition), then `!`, then comparisons. Keywords and logical
//! words are case-insensitive.

use super::ast::{
    Comparison, Field, Filter, Keyword, NodeRef, Operator, RootCauseKind, RootCauseLevel, Value,
    ValueKind,
};
use super::lexer::{Lexer, Token, TokenKind};
use super::FilterError;

/// How deep parentheses and braces may nest, so a hostile expression cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

pub(super) struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    depth: usize,
}

fn word_is(token: &Token, expected: &str) -> bool {
    matches!(&token.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(expected))
}

fn unexpected(token: &Token, wanted: &str) -> FilterError {
    FilterError::new(
        token.at,
        format!("expected {wanted} but found {}", token.kind.describe()),
    )
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            lexer: Lexer::new(text),
            peeked: None,
            depth: 0,
        }
    }

    fn peek(&mut self) -> Result<&Token, FilterError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    fn expect_symbol(&mut self, symbol: &'static str, wanted: &str) -> Result<Token, FilterError> {
        let token = self.next()?;
        if token.kind == TokenKind::Symbol(symbol) {
            Ok(token)
        } else {
            Err(unexpected(&token, wanted))
        }
    }

    fn peek_is_symbol(&mut self, symbol: &str) -> Result<bool, FilterError> {
        Ok(matches!(&self.peek()?.kind, TokenKind::Symbol(s) if *s == symbol))
    }

    /// The whole expression, which must use all of the text.
    pub(super) fn parse_all(&mut self) -> Result<Filter, FilterError> {
        if self.peek()?.kind == TokenKind::End {
            return Err(FilterError::new(0, "the filter expression is empty".into()));
        }
        let filter = self.or_expr()?;
        let token = self.next()?;
        match token.kind {
            TokenKind::End => Ok(filter),
            TokenKind::Symbol(")") => {
                Err(FilterError::new(token.at, "')' has no matching '('".into()))
            }
            TokenKind::Symbol("}") => {
                Err(FilterError::new(token.at, "'}' has no matching '{'".into()))
            }
            _ => Err(unexpected(&token, "AND, OR or the end of the expression")),
        }
    }

    fn nested<T>(
        &mut self,
        at: usize,
        parse: impl FnOnce(&mut Self) -> Result<T, FilterError>,
    ) -> Result<T, FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                at,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.and_expr()?];
        while word_is(self.peek()?, "or") {
            self.next()?;
            terms.push(self.and_expr()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::Or(terms)
        })
    }

    /// Whether the next token can start another term of an implied AND.
    fn starts_term(&mut self) -> Result<bool, FilterError> {
        let token = self.peek()?;
        Ok(match &token.kind {
            TokenKind::Word(_) => !word_is(token, "or"),
            TokenKind::Symbol(s) => matches!(*s, "!" | "("),
            _ => false,
        })
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.unary()?];
        loop {
            if word_is(self.peek()?, "and") {
                self.next()?;
                terms.push(self.unary()?);
            } else if self.starts_term()? {
                terms.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::And(terms)
        })
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let token = self.peek()?.clone();
        if token.kind == TokenKind::Symbol("!") || word_is(&token, "not") {
            self.next()?;
            let inner = self.nested(token.at, |p| p.unary())?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        let token = self.next()?;
        match &token.kind {
            TokenKind::Symbol("(") => {
                let inner = self.nested(token.at, |p| p.or_expr())?;
                let close = self.next()?;
                if close.kind != TokenKind::Symbol(")") {
                    let wanted = format!("')' to close the '(' at character {}", token.at + 1);
                    return Err(unexpected(&close, &wanted));
                }
                Ok(inner)
            }
            TokenKind::Word(word) => {
                let lower = word.to_ascii_lowercase();
                if lower == "service" && self.peek_is_symbol("(")? {
                    self.service_term(token.at)
                } else if lower == "edge" && self.peek_is_symbol("(")? {
                    self.edge_term(token.at)
                } else if let Some(path) = lower.strip_prefix("rootcause.") {
                    self.rootcause_term(path, &token)
                } else {
                    self.comparison(word, &token)
                }
            }
            _ => Err(unexpected(&token, "a keyword, '!', or '('")),
        }
    }

    fn block(&mut self, at: usize) -> Result<Filter, FilterError> {
        let open = self.expect_symbol("{", "'{'")?;
        let inner = self.nested(at, |p| p.or_expr())?;
        let close = self.next()?;
        if close.kind != TokenKind::Symbol("}") {
            return Err(unexpected(
                &close,
                &format!("'}}' to close the '{{' at character {}", open.at + 1),
            ));
        }
        Ok(inner)
    }

    fn optional_block(&mut self, at: usize) -> Result<Option<Box<Filter>>, FilterError> {
        if self.peek_is_symbol("{")? {
            Ok(Some(Box::new(self.block(at)?)))
        } else {
            Ok(None)
        }
    }

    fn service_term(&mut self, at: usize) -> Result<Filter, FilterError> {
        self.expect_symbol("(", "'('")?;
        let node = if self.peek_is_symbol(")")? {
            None
        } else {
            Some(self.node_ref()?)
        };
        self.expect_symbol(")", "')' after the service")?;
        let filter = self.optional_block(at)?;
        Ok(Filter::Service { node, filter })
    }

    fn edge_term(&mut self, at: usize) -> Result<Filter, FilterError> {
        self.expect_symbol("(", "'('")?;
        let from = self.node_ref()?;
        self.expect_symbol(",", "',' between the two ends of the edge")?;
        let to = self.node_ref()?;
        self.expect_symbol(")", "')' after the edge's two ends")?;
        let filter = self.optional_block(at)?;
        Ok(Filter::Edge { from, to, filter })
    }

    /// `"name"` or `id(name: "n", type: "t", account.id: "a")`.
    fn node_ref(&mut self) -> Result<NodeRef, FilterError> {
        let token = self.next()?;
        match &token.kind {
            TokenKind::Text(name) => Ok(NodeRef {
                name: Some(name.clone()),
                ..NodeRef::default()
            }),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("id") => self.id_args(token.at),
            _ => Err(unexpected(&token, "a quoted service name or id(...)")),
        }
    }

    fn id_args(&mut self, at: usize) -> Result<NodeRef, FilterError> {
        self.expect_symbol("(", "'(' after id")?;
        let mut node = NodeRef::default();
        loop {
            let key = self.next()?;
            let slot = match &key.kind {
                TokenKind::Word(w) if w.eq_ignore_ascii_case("name") => &mut node.name,
                TokenKind::Word(w) if w.eq_ignore_ascii_case("type") => &mut node.node_type,
                TokenKind::Word(w) if w.eq_ignore_ascii_case("account.id") => &mut node.account_id,
                _ => return Err(unexpected(&key, "name, type or account.id inside id(...)")),
            };
            self.expect_symbol(":", "':' after the id(...) argument's name")?;
            let value = self.next()?;
            let TokenKind::Text(text) = value.kind else {
                return Err(unexpected(&value, "a quoted string"));
            };
            if slot.replace(text).is_some() {
                return Err(FilterError::new(
                    key.at,
                    "an id(...) argument is given twice".into(),
                ));
            }
            let separator = self.next()?;
            match separator.kind {
                TokenKind::Symbol(",") => continue,
                TokenKind::Symbol(")") => break,
                _ => return Err(unexpected(&separator, "',' or ')' in id(...)")),
            }
        }
        if node == NodeRef::default() {
            return Err(FilterError::new(
                at,
                "id(...) needs name, type or account.id".into(),
            ));
        }
        Ok(node)
    }

    fn rootcause_term(&mut self, path: &str, token: &Token) -> Result<Filter, FilterError> {
        if path == "json" {
            self.expect_symbol("=", "'=' after rootcause.json")?;
            self.expect_symbol("#", "'#[' before the JSON")?;
            return Ok(Filter::RootCauseJson(self.lexer.json_array()?));
        }
        let (kind, level) = path.split_once('.').unwrap_or((path, ""));
        let kind = match kind {
            "fault" => RootCauseKind::Fault,
            "error" => RootCauseKind::Error,
            "responsetime" => RootCauseKind::ResponseTime,
            _ => {
                return Err(FilterError::new(
                    token.at,
                    format!(
                        "unknown root cause kind in {}: use fault, error or responsetime",
                        token.kind.describe()
                    ),
                ))
            }
        };
        let level = match (kind, level) {
            (_, "service") => RootCauseLevel::Service,
            (_, "entity") => RootCauseLevel::Entity,
            (RootCauseKind::Fault | RootCauseKind::Error, "exception") => RootCauseLevel::Exception,
            _ => return Err(FilterError::new(token.at, format!("unknown root cause level in {}: use service, entity or exception (exception is not for responsetime)", token.kind.describe()))),
        };
        let filter = Box::new(self.block(token.at)?);
        Ok(Filter::RootCause {
            kind,
            level,
            filter,
        })
    }

    fn field(&mut self, word: &str, token: &Token) -> Result<Field, FilterError> {
        let lower = word.to_ascii_lowercase();
        if lower == "annotation" && self.peek_is_symbol("[")? {
            self.next()?;
            let key = self.next()?;
            let name = match key.kind {
                TokenKind::Text(text) | TokenKind::Word(text) => text,
                _ => return Err(unexpected(&key, "an annotation key")),
            };
            self.expect_symbol("]", "']' after the annotation key")?;
            return Ok(Field::Annotation(name));
        }
        if let Some(key) = word
            .get("annotation.".len()..)
            .filter(|_| lower.starts_with("annotation."))
        {
            if key.is_empty() {
                return Err(FilterError::new(
                    token.at,
                    "annotation. needs a key, as in annotation.customer_id".into(),
                ));
            }
            return Ok(Field::Annotation(key.to_owned()));
        }
        Keyword::parse(word).map(Field::Keyword).ok_or_else(|| {
            FilterError::new(token.at, format!("unknown keyword '{word}'; keywords are {}, annotation.KEY, service(), edge(), rootcause.* and group.name", keyword_list()))
        })
    }

    fn comparison(&mut self, word: &str, token: &Token) -> Result<Filter, FilterError> {
        let field = self.field(word, token)?;
        let Some(operator) = self.operator()? else {
            return Ok(Filter::Compare(Comparison { field, test: None }));
        };
        let value_token = self.next()?;
        let value = match &value_token.kind {
            TokenKind::Text(text) => Value::Text(text.clone()),
            TokenKind::Number(number) => Value::Number(*number),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            // The documentation itself has `name = traces`: a bare word is read as a string.
            TokenKind::Word(w) => Value::Text(w.clone()),
            _ => {
                return Err(unexpected(
                    &value_token,
                    &format!("a value after '{}'", operator.as_str()),
                ))
            }
        };
        check_types(&field, operator, &value, token)?;
        Ok(Filter::Compare(Comparison {
            field,
            test: Some((operator, value)),
        }))
    }

    fn operator(&mut self) -> Result<Option<Operator>, FilterError> {
        let operator = match &self.peek()?.kind {
            TokenKind::Symbol("=") => Operator::Eq,
            TokenKind::Symbol("!=") => Operator::Ne,
            TokenKind::Symbol("<") => Operator::Lt,
            TokenKind::Symbol("<=") => Operator::Le,
            TokenKind::Symbol(">") => Operator::Gt,
            TokenKind::Symbol(">=") => Operator::Ge,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("contains") => Operator::Contains,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("beginswith") => Operator::BeginsWith,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("endswith") => Operator::EndsWith,
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(operator))
    }
}

fn keyword_list() -> String {
    Keyword::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The operator and value must suit the keyword: booleans take `=`/`!=` with true or false,
/// numbers take comparisons with a number, text takes `=`/`!=`/CONTAINS/BEGINSWITH/ENDSWITH
/// with a string. Annotations take whatever their value is.
fn check_types(
    field: &Field,
    operator: Operator,
    value: &Value,
    token: &Token,
) -> Result<(), FilterError> {
    let Field::Keyword(keyword) = field else {
        let fits = match value {
            Value::Text(_) => !operator.is_ordering(),
            Value::Number(_) => !operator.is_textual(),
            Value::Bool(_) => matches!(operator, Operator::Eq | Operator::Ne),
        };
        return if fits {
            Ok(())
        } else {
            Err(FilterError::new(
                token.at,
                format!(
                    "'{}' cannot compare an annotation with {value:?}",
                    operator.as_str()
                ),
            ))
        };
    };
    let name = keyword.as_str();
    let problem = match keyword.kind() {
        ValueKind::Boolean if !matches!(operator, Operator::Eq | Operator::Ne) => Some(format!(
            "{name} is true or false: use {name}, !{name}, {name} = true or {name} = false"
        )),
        ValueKind::Boolean if !matches!(value, Value::Bool(_)) => {
            Some(format!("{name} compares only with true or false"))
        }
        ValueKind::Number if operator.is_textual() => {
            Some(format!("{name} is a number: use =, !=, <, <=, > or >="))
        }
        ValueKind::Number if !matches!(value, Value::Number(_)) => {
            Some(format!("{name} compares only with a number"))
        }
        ValueKind::Text if operator.is_ordering() => Some(format!(
            "{name} is text: use =, !=, CONTAINS, BEGINSWITH or ENDSWITH"
        )),
        ValueKind::Text if matches!(value, Value::Number(_) | Value::Bool(_)) => {
            Some(format!("{name} compares only with a quoted string"))
        }
        _ => None,
    };
    match problem {
        Some(message) => Err(FilterError::new(token.at, message)),
        None => Ok(()),
    }
}
