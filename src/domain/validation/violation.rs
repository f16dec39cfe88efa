//! How a broken rule is reported: a [`FieldViolation`] names the field, as on the wire, and
//! what is wrong with it; a [`ValidationError`] gathers every one of a request. Kept apart from
//! the rules themselves, which only produce them.

use std::fmt;

/// One field that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, as on the wire: `events[2].visit.contact_ids[0]`.
    pub field: String,
    /// What is wrong with it, as a sentence fragment a client developer can act on.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A field's path in the request, as on the wire (`events[2].visit.contact_ids[0]`), written
/// out only when it names a violation: the checks make a path for every field they look at,
/// and almost every append passes them.
#[derive(Debug, Clone, Copy)]
pub(super) enum Path<'a> {
    /// `events[i]`.
    Event(usize),
    /// `parent.name`.
    Field(&'a Path<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(super) fn field(&'a self, name: &'a str) -> Path<'a> {
        Path::Field(self, name)
    }

    pub(super) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Event(i) => write!(f, "events[{i}]"),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A request that breaks one or more rules. Always holds at least one violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The violations, in request order.
    pub violations: Vec<FieldViolation>,
}

impl ValidationError {
    /// An error with a single violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        ValidationError {
            violations: vec![FieldViolation::new(field, description)],
        }
    }

    /// `Ok` when `violations` is empty, the error otherwise.
    pub fn check(violations: Vec<FieldViolation>) -> Result<(), ValidationError> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { violations })
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}
