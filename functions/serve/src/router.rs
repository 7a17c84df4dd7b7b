//! The HTTP router: the JSON API under `/api/v1` ([`crate::api`]); every other request
//! is an S3 request (so no repository may be named `api`).

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use s3s::service::S3ServiceBuilder;

use crate::host::PathStyle;
use crate::keys::Keys;
use crate::s3::CatalogS3;

/// The router: the JSON API under `/api/v1`, and S3 requests over `s3` everywhere
/// else, both authenticated with the issued `keys`.
pub fn router(s3: CatalogS3, keys: Keys) -> Router {
    let api = crate::api::api(crate::api::ApiState {
        catalog: s3.catalog.clone(),
        keys: keys.clone(),
    });
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_host(PathStyle);
    builder.set_auth(keys);
    let service = builder.build();
    Router::new()
        .nest(crate::api::PREFIX, api)
        .fallback(move |request: Request| {
            let service = service.clone();
            async move {
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

async fn tower_call(
    service: &s3s::service::S3Service,
    request: Request,
) -> Result<Response<s3s::Body>, s3s::HttpError> {
    let mut service = service.clone();
    tower_service::Service::call(&mut service, request).await
}
