//! The desk's users: roles, sites, language, password hash and lockout.
//! The command line manages them (`lane-central user ...`); the page only
//! reads them and changes a user's own language.

use serde::Serialize;

use crate::db::sql::{self, FromRow, PgExecutor, PgRow, Row};
use crate::error::{Error, Result, ResultExt};

/// What a user may do; each role may do everything the one before may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees queue, passages, lanes and statistics; decides nothing.
    Viewer,
    /// Claims and decides held vehicles, corrects reads.
    Reviewer,
    /// Also takes over others' claims, receives escalations, uploads pre-declarations.
    Supervisor,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "reviewer" => Some(Role::Reviewer),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

pub const LANGUAGES: [&str; 2] = ["zh-CN", "en"];

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Empty: every site.
    pub sites: Vec<String>,
    pub language: String,
    #[serde(skip)]
    pub password_hash: String,
    pub failed_logins: i32,
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    pub disabled: bool,
}

impl<'r> FromRow<'r, PgRow> for User {
    fn from_row(r: &'r PgRow) -> Result<Self, sql::Error> {
        let role: String = r.try_get("role")?;
        Ok(User {
            name: r.try_get("name")?,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            sites: r.try_get("sites")?,
            language: r.try_get("language")?,
            password_hash: r.try_get("password_hash")?,
            failed_logins: r.try_get("failed_logins")?,
            locked_until: r.try_get("locked_until")?,
            disabled: r.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("disabled_at")?.is_some(),
        })
    }
}

const COLUMNS: &str = "name, role, sites, language, password_hash, failed_logins, locked_until, disabled_at";

/// A user name the lanes' records can carry (`central:<name>`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

pub async fn get(db: impl PgExecutor<'_>, name: &str) -> Result<Option<User>> {
    Ok(sql::query_as(&format!("SELECT {COLUMNS} FROM desk_users WHERE name = $1"))
        .bind(name)
        .fetch_optional(db)
        .await?)
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<User>> {
    Ok(sql::query_as(&format!("SELECT {COLUMNS} FROM desk_users ORDER BY name")).fetch_all(db).await?)
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: Role,
    pub sites: &'a [String],
    pub language: &'a str,
    pub password_hash: &'a str,
}

pub async fn add(db: impl PgExecutor<'_>, u: NewUser<'_>) -> Result<()> {
    if !valid_name(u.name) {
        return Err(Error::Invalid(format!("{:?}: use 1 to 64 letters, digits, '.', '_' or '-'", u.name)));
    }
    sql::query(
        "INSERT INTO desk_users (name, role, sites, language, password_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(u.name)
    .bind(u.role.word())
    .bind(u.sites)
    .bind(u.language)
    .bind(u.password_hash)
    .execute(db)
    .await
    .on_constraint("desk_users_pkey", || Error::Conflict(format!("user {} exists already", u.name)))?;
    Ok(())
}

/// What `user set` may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change {
    pub role: Option<Role>,
    pub sites: Option<Vec<String>>,
    pub language: Option<String>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// Clear a lockout.
    pub unlock: bool,
}

/// Applies `c`; a new password, a disabled account or a new role ends the
/// user's sessions (they log in again under the new terms).
pub async fn change(tx: &mut sql::Transaction<'_>, name: &str, c: &Change) -> Result<()> {
    let done = sql::query(
        "UPDATE desk_users SET role = COALESCE($2, role), sites = COALESCE($3, sites), \
         language = COALESCE($4, language), password_hash = COALESCE($5, password_hash), \
         disabled_at = CASE WHEN $6 IS NULL THEN disabled_at WHEN $6 THEN COALESCE(disabled_at, now()) ELSE NULL END, \
         failed_logins = CASE WHEN $7 OR $5 IS NOT NULL THEN 0 ELSE failed_logins END, \
         locked_until = CASE WHEN $7 OR $5 IS NOT NULL THEN NULL ELSE locked_until END, \
         updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(c.role.map(Role::word))
    .bind(&c.sites)
    .bind(&c.language)
    .bind(&c.password_hash)
    .bind(c.disabled)
    .bind(c.unlock)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    if c.password_hash.is_some() || c.disabled == Some(true) || c.role.is_some() || c.sites.is_some() {
        sql::query("DELETE FROM desk_sessions WHERE user_name = $1").bind(name).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A failed login: counted, and past `limit` in a row the account locks
/// for `lock_secs` (the count starts again after the lock).
pub async fn failed_login(
    db: impl PgExecutor<'_>,
    name: &str,
    limit: u32,
    lock_secs: f64,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let row: Option<(Option<chrono::DateTime<chrono::Utc>>,)> = sql::query_as(
        "UPDATE desk_users SET \
           locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(secs => $3) ELSE locked_until END, \
           failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END \
         WHERE name = $1 RETURNING locked_until",
    )
    .bind(name)
    .bind(limit as i32)
    .bind(lock_secs)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|r| r.0))
}

pub async fn succeeded_login(db: impl PgExecutor<'_>, name: &str) -> Result<()> {
    sql::query("UPDATE desk_users SET failed_logins = 0, locked_until = NULL WHERE name = $1")
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_into_a_record_and_roles_are_ordered() {
        assert!(valid_name("li.wei"));
        assert!(valid_name("night-2"));
        assert!(!valid_name(""));
        assert!(!valid_name("li wei"));
        assert!(!valid_name("a:b"));
        assert!(!valid_name(&"x".repeat(65)));
        assert!(Role::Supervisor > Role::Reviewer && Role::Reviewer > Role::Viewer);
        for r in [Role::Viewer, Role::Reviewer, Role::Supervisor] {
            assert_eq!(Role::parse(r.word()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
