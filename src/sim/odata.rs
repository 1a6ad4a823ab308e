//! A small OData v4 `$filter` implementation: a recursive-descent parser over the tokens of
//! `odata_lex` that binds property names against an entity schema (so unknown fields and type
//! mismatches are 400s, as on Defender), and an evaluator.
//!
//! Grammar (lowest precedence first):
//! `or := and ('or' and)*`, `and := unary ('and' unary)*`, `unary := 'not' unary | primary`,
//! `primary := '(' or ')' | bool_fn '(' operand ',' operand ')' | field '/' any|all '(' var ':' or ')'
//! | operand cmp operand`. String comparisons are case-insensitive (Defender's are).

use std::borrow::Cow;
use std::cmp::Ordering;

use time::OffsetDateTime;

pub use super::odata_lex::parse_datetime;
use super::odata_lex::{Tok, tokenize};
pub use super::query::QueryOptions;

/// A `$filter` or query-option error; always a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ODataError {
    /// The expression does not parse.
    #[error("Invalid filter clause: {0}")]
    Syntax(String),
    /// The property does not exist on the entity.
    #[error("Could not find a property named '{0}' on type '{1}'.")]
    UnknownProperty(String, &'static str),
    /// The property exists but Defender does not filter on it.
    #[error("The property '{0}' cannot be used in the $filter query option.")]
    NotFilterable(String),
    /// A literal of the wrong type for the property.
    #[error("A binary operator with incompatible types was detected: {0}")]
    TypeMismatch(String),
    /// Bad `$top` / `$skip` value.
    #[error("{0}")]
    QueryOption(String),
}

impl ODataError {
    /// The Defender error code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFilterable(_) | Self::UnknownProperty(..) => "InvalidInput",
            _ => "ODataError",
        }
    }
}

/// Property types the evaluator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// String (and string enums).
    Str,
    /// Any number.
    Num,
    /// DateTimeOffset.
    Date,
    /// Boolean.
    Bool,
    /// Collection of strings (only usable through `any`/`all`).
    StrList,
}

/// The filterable properties of one entity set.
#[derive(Debug)]
pub struct Schema {
    /// Entity type name used in error messages.
    pub entity: &'static str,
    /// Filterable properties (names as in the JSON).
    pub fields: &'static [(&'static str, FieldType)],
    /// Properties that exist but are rejected in `$filter`.
    pub unfilterable: &'static [&'static str],
}

/// A property value of one record.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// JSON null.
    Null,
    /// String.
    Str(Cow<'a, str>),
    /// Number.
    Num(f64),
    /// Timestamp.
    Date(OffsetDateTime),
    /// Boolean.
    Bool(bool),
    /// String collection.
    List(Vec<&'a str>),
}

/// A record that a filter can read, by index into its [`Schema::fields`].
pub trait Filterable {
    /// The value of field `index`.
    fn field(&self, index: usize) -> Value<'_>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrFunc {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone)]
enum Lit {
    Null,
    Str(String),
    Num(f64),
    Date(OffsetDateTime),
    Bool(bool),
}

#[derive(Debug, Clone)]
enum Operand {
    Field(usize),
    Var,
    Lit(Lit),
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, CmpOp, Operand),
    Func(StrFunc, Operand, Operand),
    Lambda {
        field: usize,
        all: bool,
        body: Option<Box<Expr>>,
    },
}

/// A parsed, type-checked `$filter`.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

/// Deepest nesting of parentheses, `not` and function calls a filter may use. The parser
/// recurses once per level, on a tokio worker's stack: without a bound, a request of a few
/// thousand `(` overflowed it and aborted the whole simulator.
const MAX_DEPTH: usize = 64;

struct Parser<'s> {
    toks: Vec<Tok>,
    pos: usize,
    schema: &'s Schema,
    var: Option<String>,
    depth: usize,
}

fn kw(tok: Option<&Tok>, word: &str) -> bool {
    matches!(tok, Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(word))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), ODataError> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            Some(t) => Err(ODataError::Syntax(format!(
                "expected {want:?}, found {t:?}"
            ))),
            None => Err(ODataError::Syntax(format!("expected {want:?} at the end"))),
        }
    }

    fn or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.and()?;
        while kw(self.peek(), "or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.unary()?;
        while kw(self.peek(), "and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ODataError> {
        self.nested(|p| {
            if kw(p.peek(), "not") {
                p.pos += 1;
                return Ok(Expr::Not(Box::new(p.unary()?)));
            }
            p.primary()
        })
    }

    /// Runs `parse` one nesting level deeper, refusing a filter nested beyond [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, ODataError>,
    ) -> Result<T, ODataError> {
        if self.depth >= MAX_DEPTH {
            return Err(ODataError::Syntax(format!(
                "the filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> Result<Expr, ODataError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen)?;
            return Ok(e);
        }
        if let (Some(Tok::Ident(name)), Some(Tok::LParen)) =
            (self.peek(), self.toks.get(self.pos + 1))
        {
            let func = match name.to_ascii_lowercase().as_str() {
                "startswith" => Some(StrFunc::StartsWith),
                "endswith" => Some(StrFunc::EndsWith),
                "contains" => Some(StrFunc::Contains),
                _ => None,
            };
            if let Some(func) = func {
                self.pos += 2;
                let a = self.operand()?;
                self.expect(&Tok::Comma)?;
                let b = self.operand()?;
                self.expect(&Tok::RParen)?;
                for o in [&a, &b] {
                    let t = self.type_of(o);
                    if !matches!(t, Some(FieldType::Str) | None) {
                        return Err(ODataError::TypeMismatch(format!("{func:?} needs strings")));
                    }
                }
                return Ok(Expr::Func(func, a, b));
            }
        }
        if let (Some(Tok::Ident(_)), Some(Tok::Slash)) = (self.peek(), self.toks.get(self.pos + 1))
        {
            return self.lambda();
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(op)) => match op.to_ascii_lowercase().as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                other => return Err(ODataError::Syntax(format!("unknown operator '{other}'"))),
            },
            Some(t) => {
                return Err(ODataError::Syntax(format!(
                    "expected an operator, found {t:?}"
                )));
            }
            None => return Err(ODataError::Syntax("expected an operator at the end".into())),
        };
        let right = self.operand()?;
        self.check_comparison(left, op, right)
    }

    fn lambda(&mut self) -> Result<Expr, ODataError> {
        let Some(Tok::Ident(name)) = self.next() else {
            return Err(ODataError::Syntax("expected a property".into()));
        };
        let field = self.field_index(&name)?;
        if self.schema.fields[field].1 != FieldType::StrList {
            return Err(ODataError::TypeMismatch(format!(
                "'{name}' is not a collection"
            )));
        }
        self.expect(&Tok::Slash)?;
        let all = match self.next() {
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("any") => false,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("all") => true,
            _ => return Err(ODataError::Syntax("expected any or all".into())),
        };
        self.expect(&Tok::LParen)?;
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            return Ok(Expr::Lambda {
                field,
                all,
                body: None,
            });
        }
        let Some(Tok::Ident(var)) = self.next() else {
            return Err(ODataError::Syntax("expected a lambda variable".into()));
        };
        self.expect(&Tok::Colon)?;
        if self.var.is_some() {
            return Err(ODataError::Syntax(
                "nested lambdas are not supported".into(),
            ));
        }
        self.var = Some(var);
        let body = self.or();
        self.var = None;
        let body = body?;
        self.expect(&Tok::RParen)?;
        Ok(Expr::Lambda {
            field,
            all,
            body: Some(Box::new(body)),
        })
    }

    fn field_index(&self, name: &str) -> Result<usize, ODataError> {
        if let Some(i) = self
            .schema
            .fields
            .iter()
            .position(|(f, _)| f.eq_ignore_ascii_case(name))
        {
            return Ok(i);
        }
        if let Some(f) = self
            .schema
            .unfilterable
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
        {
            return Err(ODataError::NotFilterable((*f).to_string()));
        }
        Err(ODataError::UnknownProperty(
            name.to_string(),
            self.schema.entity,
        ))
    }

    fn operand(&mut self) -> Result<Operand, ODataError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Lit::Str(s))),
            Some(Tok::Lit(raw)) => {
                if let Ok(n) = raw.parse::<f64>() {
                    Ok(Operand::Lit(Lit::Num(n)))
                } else if let Some(d) = parse_datetime(&raw) {
                    Ok(Operand::Lit(Lit::Date(d)))
                } else {
                    Err(ODataError::Syntax(format!(
                        "'{raw}' is not a valid literal"
                    )))
                }
            }
            Some(Tok::Ident(name)) => {
                let lower = name.to_ascii_lowercase();
                match lower.as_str() {
                    "null" => return Ok(Operand::Lit(Lit::Null)),
                    "true" => return Ok(Operand::Lit(Lit::Bool(true))),
                    "false" => return Ok(Operand::Lit(Lit::Bool(false))),
                    _ => {}
                }
                if matches!(lower.as_str(), "datetime" | "datetimeoffset") {
                    if let Some(Tok::Str(s)) = self.peek().cloned() {
                        self.pos += 1;
                        return parse_datetime(&s)
                            .map(|d| Operand::Lit(Lit::Date(d)))
                            .ok_or_else(|| {
                                ODataError::Syntax(format!("'{s}' is not a valid date"))
                            });
                    }
                }
                if matches!(lower.as_str(), "tolower" | "toupper" | "trim")
                    && self.peek() == Some(&Tok::LParen)
                {
                    // Comparisons are case-insensitive already: these wrap their argument.
                    self.pos += 1;
                    let inner = self.nested(Self::operand)?;
                    self.expect(&Tok::RParen)?;
                    return Ok(inner);
                }
                if self.var.as_deref().is_some_and(|v| v == name) {
                    return Ok(Operand::Var);
                }
                Ok(Operand::Field(self.field_index(&name)?))
            }
            Some(t) => Err(ODataError::Syntax(format!("expected a value, found {t:?}"))),
            None => Err(ODataError::Syntax("expected a value at the end".into())),
        }
    }

    /// `None` means "null literal" (compatible with anything).
    fn type_of(&self, o: &Operand) -> Option<FieldType> {
        match o {
            Operand::Field(i) => Some(self.schema.fields[*i].1),
            Operand::Var => Some(FieldType::Str),
            Operand::Lit(Lit::Null) => None,
            Operand::Lit(Lit::Str(_)) => Some(FieldType::Str),
            Operand::Lit(Lit::Num(_)) => Some(FieldType::Num),
            Operand::Lit(Lit::Date(_)) => Some(FieldType::Date),
            Operand::Lit(Lit::Bool(_)) => Some(FieldType::Bool),
        }
    }

    fn check_comparison(
        &self,
        left: Operand,
        op: CmpOp,
        right: Operand,
    ) -> Result<Expr, ODataError> {
        // A quoted date compared with a date property is accepted, as OData servers do.
        let coerce = |o: Operand, other: Option<FieldType>| -> Result<Operand, ODataError> {
            match (o, other) {
                (Operand::Lit(Lit::Str(s)), Some(FieldType::Date)) => parse_datetime(&s)
                    .map(|d| Operand::Lit(Lit::Date(d)))
                    .ok_or_else(|| ODataError::TypeMismatch(format!("'{s}' is not a date"))),
                (o, _) => Ok(o),
            }
        };
        let (lt, rt) = (self.type_of(&left), self.type_of(&right));
        let left = coerce(left, rt)?;
        let right = coerce(right, lt)?;
        let (lt, rt) = (self.type_of(&left), self.type_of(&right));
        match (lt, rt) {
            (Some(FieldType::StrList), _) | (_, Some(FieldType::StrList)) => {
                Err(ODataError::TypeMismatch(
                    "collections can only be filtered with any() or all()".into(),
                ))
            }
            (Some(a), Some(b)) if a != b => {
                Err(ODataError::TypeMismatch(format!("{a:?} and {b:?}")))
            }
            (Some(FieldType::Bool), _) | (_, Some(FieldType::Bool)) | (None, _) | (_, None)
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) =>
            {
                Err(ODataError::TypeMismatch(
                    "only eq and ne apply to booleans and null".into(),
                ))
            }
            _ => Ok(Expr::Cmp(left, op, right)),
        }
    }
}

impl Filter {
    /// Parses and type-checks `text` against `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Self, ODataError> {
        let toks = tokenize(text)?;
        if toks.is_empty() {
            return Err(ODataError::Syntax("the filter is empty".into()));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            schema,
            var: None,
            depth: 0,
        };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(ODataError::Syntax(format!(
                "unexpected {t:?} after the expression"
            )));
        }
        Ok(Self { expr })
    }

    /// Whether `record` matches.
    pub fn matches<R: Filterable + ?Sized>(&self, record: &R) -> bool {
        eval(&self.expr, record, None)
    }

    /// The filter as a list of `or`-ed clauses, for the fuzz properties (`crate::fuzzing`):
    /// they check that a filter the client built from caller text parses back to exactly the
    /// comparisons that were meant, whatever the text.
    pub(crate) fn clauses(&self, schema: &Schema) -> Vec<Clause> {
        let mut out = Vec::new();
        collect_clauses(&self.expr, schema, &mut out);
        out
    }
}

/// One `or`-ed clause of a parsed filter (see [`Filter::clauses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// `field eq 'value'` (either operand order).
    Eq(&'static str, String),
    /// `startswith(field,'prefix')`.
    StartsWith(&'static str, String),
    /// Anything else (`and`, `not`, other operators, functions or operand types).
    Other,
}

fn collect_clauses(e: &Expr, schema: &Schema, out: &mut Vec<Clause>) {
    let field_and_str = |a: &Operand, b: &Operand| match (a, b) {
        (Operand::Field(i), Operand::Lit(Lit::Str(s)))
        | (Operand::Lit(Lit::Str(s)), Operand::Field(i)) => Some((schema.fields[*i].0, s.clone())),
        _ => None,
    };
    match e {
        Expr::Or(a, b) => {
            collect_clauses(a, schema, out);
            collect_clauses(b, schema, out);
        }
        Expr::Cmp(a, CmpOp::Eq, b) => {
            out.push(field_and_str(a, b).map_or(Clause::Other, |(f, s)| Clause::Eq(f, s)))
        }
        Expr::Func(StrFunc::StartsWith, a @ Operand::Field(_), b) => {
            out.push(field_and_str(a, b).map_or(Clause::Other, |(f, s)| Clause::StartsWith(f, s)))
        }
        _ => out.push(Clause::Other),
    }
}

fn value_of<'a, R: Filterable + ?Sized>(
    o: &'a Operand,
    r: &'a R,
    var: Option<&'a str>,
) -> Value<'a> {
    match o {
        Operand::Field(i) => r.field(*i),
        Operand::Var => var.map_or(Value::Null, |v| Value::Str(Cow::Borrowed(v))),
        Operand::Lit(Lit::Null) => Value::Null,
        Operand::Lit(Lit::Str(s)) => Value::Str(Cow::Borrowed(s)),
        Operand::Lit(Lit::Num(n)) => Value::Num(*n),
        Operand::Lit(Lit::Date(d)) => Value::Date(*d),
        Operand::Lit(Lit::Bool(b)) => Value::Bool(*b),
    }
}

fn fold(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().map(|b| b.to_ascii_lowercase())
}

fn compare(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(fold(x).cmp(fold(y))),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn eval<R: Filterable + ?Sized>(e: &Expr, r: &R, var: Option<&str>) -> bool {
    match e {
        Expr::Or(a, b) => eval(a, r, var) || eval(b, r, var),
        Expr::And(a, b) => eval(a, r, var) && eval(b, r, var),
        Expr::Not(a) => !eval(a, r, var),
        Expr::Cmp(a, op, b) => {
            let ord = compare(&value_of(a, r, var), &value_of(b, r, var));
            match op {
                CmpOp::Eq => ord == Some(Ordering::Equal),
                CmpOp::Ne => ord != Some(Ordering::Equal),
                CmpOp::Gt => ord == Some(Ordering::Greater),
                CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CmpOp::Lt => ord == Some(Ordering::Less),
                CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            }
        }
        Expr::Func(f, a, b) => {
            let (Value::Str(hay), Value::Str(needle)) = (value_of(a, r, var), value_of(b, r, var))
            else {
                return false;
            };
            let (hay, needle) = (hay.to_ascii_lowercase(), needle.to_ascii_lowercase());
            match f {
                StrFunc::StartsWith => hay.starts_with(&needle),
                StrFunc::EndsWith => hay.ends_with(&needle),
                StrFunc::Contains => hay.contains(&needle),
            }
        }
        Expr::Lambda { field, all, body } => {
            let Value::List(items) = r.field(*field) else {
                return false;
            };
            match body {
                None => !items.is_empty(),
                Some(body) if *all => items.iter().all(|it| eval(body, r, Some(it))),
                Some(body) => items.iter().any(|it| eval(body, r, Some(it))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    static SCHEMA: Schema = Schema {
        entity: "Machine",
        fields: &[
            ("computerDnsName", FieldType::Str),
            ("riskScore", FieldType::Str),
            ("lastSeen", FieldType::Date),
            ("rbacGroupId", FieldType::Num),
            ("machineTags", FieldType::StrList),
            ("isAadJoined", FieldType::Bool),
        ],
        unfilterable: &["machineId"],
    };

    struct M {
        name: &'static str,
        risk: Option<&'static str>,
        seen: OffsetDateTime,
        group: f64,
        tags: Vec<&'static str>,
    }

    impl Filterable for M {
        fn field(&self, i: usize) -> Value<'_> {
            match i {
                0 => Value::Str(Cow::Borrowed(self.name)),
                1 => self
                    .risk
                    .map_or(Value::Null, |r| Value::Str(Cow::Borrowed(r))),
                2 => Value::Date(self.seen),
                3 => Value::Num(self.group),
                4 => Value::List(self.tags.clone()),
                _ => Value::Bool(true),
            }
        }
    }

    fn m() -> M {
        M {
            name: "ws-00042.contoso.local",
            risk: Some("High"),
            seen: datetime!(2026-01-10 08:00 UTC),
            group: 140.0,
            tags: vec!["VIP", "PCI"],
        }
    }

    fn check(f: &str) -> bool {
        Filter::parse(f, &SCHEMA).expect(f).matches(&m())
    }

    #[test]
    fn equality_is_case_insensitive_for_names_and_values() {
        assert!(check("computerDnsName eq 'WS-00042.contoso.local'"));
        assert!(check("COMPUTERDNSNAME EQ 'ws-00042.contoso.local'"));
        assert!(!check("computerDnsName eq 'ws-00042'"));
        assert!(check("riskScore ne 'Low'"));
    }

    #[test]
    fn startswith_and_contains_match_prefixes_and_substrings() {
        assert!(check("startswith(computerDnsName,'ws-00042.')"));
        assert!(!check("startswith(computerDnsName,'srv')"));
        assert!(check("contains(computerDnsName, 'CONTOSO')"));
        assert!(check("endswith(computerDnsName,'.local')"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        assert!(check(
            "riskScore eq 'Low' and riskScore eq 'X' or rbacGroupId eq 140"
        ));
        assert!(!check(
            "riskScore eq 'Low' and (riskScore eq 'X' or rbacGroupId eq 140)"
        ));
        assert!(check("not (riskScore eq 'Low')"));
    }

    #[test]
    fn dates_compare_in_every_accepted_form() {
        assert!(check("lastSeen gt 2018-08-01Z"));
        assert!(check("lastSeen gt 2026-01-10T07:59:59.9999999Z"));
        assert!(check("lastSeen ge 2026-01-10T10:00:00+02:00"));
        assert!(!check("lastSeen gt 2026-01-10T10:00:00+02:00"));
        assert!(check("lastSeen lt '2027-01-01'"));
        assert!(check("lastSeen lt datetime'2027-01-01T00:00:00Z'"));
    }

    #[test]
    fn null_literal_matches_null_values() {
        let mut rec = m();
        rec.risk = None;
        let f = Filter::parse("riskScore eq null", &SCHEMA).expect("parse");
        assert!(f.matches(&rec));
        assert!(!f.matches(&m()));
    }

    #[test]
    fn any_lambda_filters_collections() {
        assert!(check("machineTags/any(t: t eq 'pci')"));
        assert!(!check("machineTags/any(t:t eq 'Lab')"));
        assert!(check("machineTags/any()"));
    }

    #[test]
    fn unknown_and_unfilterable_fields_are_rejected() {
        assert!(matches!(
            Filter::parse("bogus eq 'x'", &SCHEMA),
            Err(ODataError::UnknownProperty(..))
        ));
        assert!(matches!(
            Filter::parse("machineId eq 'x'", &SCHEMA),
            Err(ODataError::NotFilterable(_))
        ));
    }

    #[test]
    fn malformed_filters_are_syntax_errors() {
        for bad in [
            "",
            "computerDnsName eq",
            "computerDnsName = 'x'",
            "computerDnsName eq 'x",
            "(riskScore eq 'High'",
            "riskScore eq 'High')",
            "riskScore eq 'High' and",
            "riskScore eq 'High' xor riskScore eq 'Low'",
            "lastSeen gt 2018-13-45",
        ] {
            assert!(Filter::parse(bad, &SCHEMA).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
        // On a thread with a tokio worker's stack: before the depth bound these aborted the
        // process (stack overflow) instead of returning an error.
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let deep = 20_000;
                for bad in [
                    format!(
                        "{}riskScore eq 'High'{}",
                        "(".repeat(deep),
                        ")".repeat(deep)
                    ),
                    format!("{}riskScore eq 'High'", "not ".repeat(deep)),
                    format!(
                        "{}'x'{} eq riskScore",
                        "tolower(".repeat(deep),
                        ")".repeat(deep)
                    ),
                ] {
                    assert!(matches!(
                        Filter::parse(&bad, &SCHEMA),
                        Err(ODataError::Syntax(_))
                    ));
                }
                let ok = format!("{}riskScore eq 'High'{}", "(".repeat(60), ")".repeat(60));
                assert!(Filter::parse(&ok, &SCHEMA).is_ok());
            })
            .expect("thread");
        worker.join().expect("no panic");
    }

    #[test]
    fn type_mismatches_are_rejected() {
        assert!(matches!(
            Filter::parse("rbacGroupId eq 'x'", &SCHEMA),
            Err(ODataError::TypeMismatch(_))
        ));
        assert!(matches!(
            Filter::parse("lastSeen gt 'soon'", &SCHEMA),
            Err(ODataError::TypeMismatch(_))
        ));
        assert!(Filter::parse("machineTags eq 'x'", &SCHEMA).is_err());
    }
}
