//! Kudu's VFS API over an app's home: list a folder (trailing `/`), read, write and delete files,
//! delete a folder with `?recursive=true` — the API twin of deleting env over FTP.
//!
//! Every path is confined to the app home by [`resolve`]: no `..`, no absolute paths, and no
//! symlink that leads out.

use std::path::{Component, Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use super::AppState;
use crate::app_name::AppName;

/// Largest file the VFS API accepts.
pub const MAX_UPLOAD: usize = 512 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps/{app}/vfs/", get(list_root))
        .route("/apps/{app}/vfs/{*path}", get(read).put(write).delete(remove))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
}

/// Maps a user path (`site/wwwroot/app.py`) to a real path inside `home`, or refuses it.
pub fn resolve(home: &FsPath, user_path: &str) -> Result<PathBuf, String> {
    let relative = FsPath::new(user_path.trim_start_matches('/'));
    let mut confined = home.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => confined.push(part),
            Component::CurDir => {}
            _ => return Err(format!("path `{user_path}` is not allowed: no `..` or absolute paths")),
        }
    }
    // Symlinks: the deepest existing ancestor, resolved, must still be inside the home.
    let home_real = home.canonicalize().map_err(|e| format!("app home: {e}"))?;
    let mut existing = confined.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().unwrap_or(home);
    }
    let real = existing
        .canonicalize()
        .map_err(|_| format!("path `{user_path}` is not allowed: it leads outside the app home"))?;
    if !real.starts_with(&home_real) {
        return Err(format!("path `{user_path}` is not allowed: it leads outside the app home"));
    }
    Ok(confined)
}

fn confined(state: &AppState, app: &AppName, path: &str) -> ApiResult<PathBuf> {
    state.service.require_app(app)?;
    resolve(&state.service.paths(app).home, path).map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))
}

#[derive(Deserialize)]
struct VfsPath {
    app: AppName,
    path: String,
}

async fn list_root(State(state): State<AppState>, ApiPath(app): ApiPath<AppName>) -> ApiResult<Response> {
    let dir = confined(&state, &app, "")?;
    list(&dir, "").await
}

async fn read(State(state): State<AppState>, ApiPath(VfsPath { app, path }): ApiPath<VfsPath>) -> ApiResult<Response> {
    let target = confined(&state, &app, &path)?;
    if path.ends_with('/') {
        return list(&target, &path).await;
    }
    let file = tokio::fs::File::open(&target).await.map_err(|_| ApiError::not_found(format!("no file `{path}`")))?;
    if file.metadata().await.map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ApiError::bad_request(format!("`{path}` is a folder: add a trailing `/` to list it")));
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

async fn list(dir: &FsPath, shown: &str) -> ApiResult<Response> {
    let mut entries =
        tokio::fs::read_dir(dir).await.map_err(|_| ApiError::not_found(format!("no folder `{shown}`")))?;
    let mut listing = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(meta) = entry.metadata().await else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let mtime = meta.modified().ok().map(|t| {
            time::OffsetDateTime::from(t).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
        });
        listing.push(json!({
            "name": name,
            "size": if meta.is_dir() { 0 } else { meta.len() },
            "mtime": mtime,
            "mime": if meta.is_dir() { "inode/directory" } else { "application/octet-stream" },
            "path": format!("{}{}{}", shown.trim_end_matches('/'), if shown.is_empty() { "" } else { "/" }, name),
        }));
    }
    listing.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(listing).into_response())
}

async fn write(
    State(state): State<AppState>,
    ApiPath(VfsPath { app, path }): ApiPath<VfsPath>,
    body: Body,
) -> ApiResult<Response> {
    if path.ends_with('/') {
        return Err(ApiError::bad_request("cannot write to a folder path (trailing `/`)"));
    }
    let target = confined(&state, &app, &path)?;
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("create the folder of", &path, e))?;
    }
    let (home, file) = (state.service.paths(&app).home, target.clone());
    tokio::task::spawn_blocking(move || crate::releases::unshare(&home, &file))
        .await
        .map_err(|e| io_error("write", &path, std::io::Error::other(e)))?
        .map_err(|e| io_error("write", &path, e))?;
    let mut file = tokio::fs::File::create(&target).await.map_err(|e| io_error("write", &path, e))?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("upload of `{path}` failed: {e}")))?;
        file.write_all(&chunk).await.map_err(|e| io_error("write", &path, e))?;
    }
    file.flush().await.map_err(|e| io_error("write", &path, e))?;
    // What the upload made in the app's releases (the file, and folders made for it) is the app's.
    if state.service.shared().isolation.is_sandboxed() {
        let ids = state.service.shared().app_ids(&app)?;
        let home = state.service.paths(&app).home;
        for made in std::path::Path::new(&path).ancestors().filter(|p| !p.as_os_str().is_empty()) {
            crate::sandbox::give_made_file(&home, made, ids);
        }
    }
    Ok((StatusCode::CREATED, Json(json!({ "written": path }))).into_response())
}

/// A file operation that failed, named by the user's path (not the server's).
fn io_error(action: &str, path: &str, error: std::io::Error) -> ApiError {
    use std::io::ErrorKind;
    let status = match error.kind() {
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists
        | ErrorKind::IsADirectory
        | ErrorKind::NotADirectory
        | ErrorKind::DirectoryNotEmpty => StatusCode::CONFLICT,
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, format!("cannot {action} `{path}`: {}", error.kind()))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    recursive: bool,
}

async fn remove(
    State(state): State<AppState>,
    ApiPath(VfsPath { app, path }): ApiPath<VfsPath>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let target = confined(&state, &app, &path)?;
    if target == state.service.paths(&app).home {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "the app home itself cannot be deleted"));
    }
    let meta = tokio::fs::symlink_metadata(&target)
        .await
        .map_err(|_| ApiError::not_found(format!("no file or folder `{path}`")))?;
    if meta.is_dir() {
        if !query.recursive {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("`{path}` is a folder: add `?recursive=true` to delete it and everything in it"),
            ));
        }
        tokio::fs::remove_dir_all(&target).await.map_err(|e| io_error("delete", &path, e))?;
    } else {
        tokio::fs::remove_file(&target).await.map_err(|e| io_error("delete", &path, e))?;
    }
    Ok(Json(json!({ "deleted": path })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("site")).unwrap();
        assert_eq!(resolve(&home, "site/wwwroot/app.py").unwrap(), home.join("site/wwwroot/app.py"));
        assert_eq!(resolve(&home, "/site/").unwrap(), home.join("site"));
        assert!(resolve(&home, "../other").is_err());
        assert!(resolve(&home, "site/../../x").is_err());
        std::os::unix::fs::symlink("/etc", home.join("site/etc")).unwrap();
        assert!(resolve(&home, "site/etc/passwd").unwrap_err().contains("outside the app home"));
    }
}
