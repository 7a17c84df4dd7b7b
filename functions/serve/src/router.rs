//! The HTTP router: the JSON API under `/api/v1` ([`crate::api`]); every other request
//! is an S3 request (so no repository may be named `api`).

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use s3s::service::S3ServiceBuilder;

use crate::api::imports::Imports;
use crate::host::PathStyle;
use crate::keys::Keys;
use crate::s3::CatalogS3;

/// The router: the JSON API under `/api/v1` (starting imports through `imports`), and
/// S3 requests over `s3` everywhere else, both authenticated with the issued `keys`.
pub fn router(s3: CatalogS3, keys: Keys, imports: Imports) -> Router {
    let state = crate::api::ApiState {
        catalog: s3.catalog.clone(),
        keys: keys.clone(),
        imports,
    };
    let api = crate::api::api(state.clone());
    let ui = crate::ui::ui(state);
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_host(PathStyle);
    builder.set_auth(keys);
    let service = builder.build();
    Router::new()
        .nest(crate::api::PREFIX, api)
        .nest_service(crate::ui::PREFIX, ui)
        .fallback(move |request: Request| {
            let service = service.clone();
            async move {
                // A browser that opens the server's address gets the UI; a signed
                // `GET /` is S3's ListBuckets.
                if is_browser_root(&request) {
                    return axum::response::Redirect::to("/ui/").into_response();
                }
                let (parts, body) = request.into_parts();
                let request = Request::from_parts(parts, body);
                match tower_call(&service, request).await {
                    Ok(response) => response.map(Body::new).into_response(),
                    Err(err) => {
                        tracing::error!(error = ?err, "the S3 service failed");
                        (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "internal error",
                        )
                            .into_response()
                    }
                }
            }
        })
}

/// An unsigned `GET /`: no `Authorization` header, no presigned query.
fn is_browser_root(request: &Request) -> bool {
    request.method() == axum::http::Method::GET
        && request.uri().path() == "/"
        && !request
            .headers()
            .contains_key(axum::http::header::AUTHORIZATION)
        && !request
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-") || q.contains("AWSAccessKeyId"))
}

async fn tower_call(
    service: &s3s::service::S3Service,
    request: Request,
) -> Result<Response<s3s::Body>, s3s::HttpError> {
    let mut service = service.clone();
    tower_service::Service::call(&mut service, request).await
}
