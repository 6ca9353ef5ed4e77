//! One error type for the service, mapped to HTTP status codes in one place.
//! Internals (database and store errors) are logged with their cause and
//! answered with a plain 500: a client never sees a SQL message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// No valid session or token: log in (the desk's pages redirect to /login).
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but this user may not do this (role, site, missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// The request is understood but refused: a bad filter, an invalid value.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (e.g. approving a revoked key).
    #[error("{0}")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] crate::db::sql::Error),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Database(crate::db::sql::Error::RowNotFound) => StatusCode::NOT_FOUND,
            Error::Database(_) | Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(cause = %self, "request failed");
            "internal error; the cause is in central's log".to_string()
        } else {
            self.to_string()
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a named constraint violation into a client error, as
/// realworld-axum-sqlx's `on_constraint`.
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> Error) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Database(crate::db::sql::Error::Database(db)) if db.constraint() == Some(name) => f(),
            e => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_are_500_and_client_mistakes_are_4xx() {
        assert_eq!(Error::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(Error::Invalid("x".into()).status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            Error::Database(crate::db::sql::Error::PoolTimedOut).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(Error::Database(crate::db::sql::Error::RowNotFound).status(), StatusCode::NOT_FOUND);
    }
}
