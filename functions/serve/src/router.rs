//! The HTTP router the endpoint is mounted in: every request is an S3 request for now;
//! the JSON API and the web UI will share the router (and the port).

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::host::PathStyle;
use crate::s3::CatalogS3;

/// The access key clients sign their requests with (SigV4).
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The router: S3 requests, signed with `credentials`, over `s3`.
pub fn router(s3: CatalogS3, credentials: &Credentials) -> Router {
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_host(PathStyle);
    builder.set_auth(SimpleAuth::from_single(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
    ));
    let service = builder.build();
    Router::new().fallback(move |request: Request| {
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
