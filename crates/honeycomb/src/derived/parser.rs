//! Parsing the calculated-field language into calls: infix operators become the functions they
//! stand for (`+` is SUM, `<` is LT, `!=` is NOT(EQUALS), `AND` is AND), so only calls remain.

use super::lexer::{tokens, Token};

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Null,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Column(String),
    Literal(Literal),
    Call(String, Vec<Expr>),
}

/// Binary operators from the loosest to the tightest, with the function each stands for.
const LEVELS: [&[(&str, &str)]; 6] = [
    &[("OR", "OR")],
    &[("AND", "AND")],
    &[("=", "EQUALS"), ("!=", "!=")],
    &[("<", "LT"), ("<=", "LTE"), (">", "GT"), (">=", "GTE")],
    &[("+", "SUM")],
    &[("-", "SUB")],
];
const PRODUCT: &[(&str, &str)] = &[("*", "MUL"), ("/", "DIV"), ("%", "MOD")];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn operator_at(&self, level: &[(&str, &'static str)]) -> Option<&'static str> {
        match self.peek() {
            Some(Token::Operator(op)) => level.iter().find(|(o, _)| o == op).map(|(_, f)| *f),
            _ => None,
        }
    }

    fn binary(&mut self, depth: usize) -> Result<Expr, String> {
        let Some(level) = LEVELS.get(depth) else {
            return self.product();
        };
        let mut left = self.binary(depth + 1)?;
        while let Some(function) = self.operator_at(level) {
            self.at += 1;
            let right = self.binary(depth + 1)?;
            left = if function == "!=" {
                Expr::Call(
                    "NOT".into(),
                    vec![Expr::Call("EQUALS".into(), vec![left, right])],
                )
            } else {
                Expr::Call(function.into(), vec![left, right])
            };
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(function) = self.operator_at(PRODUCT) {
            self.at += 1;
            let right = self.unary()?;
            left = Expr::Call(function.into(), vec![left, right]);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Operator("!")) {
            self.at += 1;
            return Ok(Expr::Call("NOT".into(), vec![self.unary()?]));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Column(name)) => Ok(Expr::Column(name)),
            Some(Token::Text(text)) => Ok(Expr::Literal(Literal::Text(text))),
            Some(Token::Integer(n)) => Ok(Expr::Literal(Literal::Integer(n))),
            Some(Token::Float(f)) => Ok(Expr::Literal(Literal::Float(f))),
            Some(Token::Boolean(b)) => Ok(Expr::Literal(Literal::Boolean(b))),
            Some(Token::Null) => Ok(Expr::Literal(Literal::Null)),
            Some(Token::Open) => {
                let inner = self.binary(0)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Token::Function(name)) => self.call(name),
            Some(other) => Err(format!("unexpected {other:?}")),
            None => Err("mismatched input '<EOF>': an operand is missing".into()),
        }
    }

    fn call(&mut self, name: String) -> Result<Expr, String> {
        if self.next() != Some(Token::Open) {
            return Err(format!("{name} must be called, as {name}(…)"));
        }
        let mut arguments = Vec::new();
        loop {
            if self.peek() == Some(&Token::Close) {
                self.at += 1;
                break;
            }
            arguments.push(self.binary(0)?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => break,
                _ => return Err(format!("extraneous input in the arguments of {name}")),
            }
        }
        Ok(Expr::Call(name, arguments))
    }
}

/// The expression `source` spells.
pub(crate) fn parse(source: &str) -> Result<Expr, String> {
    let tokens = tokens(source)?;
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.binary(0)?;
    if parser.at < parser.tokens.len() {
        return Err(format!("extraneous input {:?}", parser.tokens[parser.at]));
    }
    Ok(expr)
}
