//! Programs call the JSON API signed with SigV4, as they sign S3 requests, with an
//! issued key: no session, no CSRF token.

use integration_tests::LocalStack;
use integration_tests::serve::Server;
use serde_json::json;

#[tokio::test]
async fn signed_requests_act_with_their_key_and_bad_signatures_are_refused() {
    let stack = LocalStack::start().await;
    stack.imported_photos(3, false).await;
    let server = Server::start(&stack);
    let result = server.boto3(
        r#"
import datetime, urllib.request, urllib.error
from unittest import mock
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials(s3._request_signer._credentials.access_key, s3._request_signer._credentials.secret_key)
base = s3.meta.endpoint_url + "/api/v1"
def call(method, path, body=None, secret=None, tamper=None, when=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    request = AWSRequest(method=method, url=base + path, data=data, headers=headers)
    signer = S3SigV4Auth(Credentials(creds.access_key, secret or creds.secret_key), "s3", "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    prepared = request.prepare()
    sent = data if tamper is None else tamper
    r = urllib.request.Request(prepared.url, data=sent or None, method=method, headers=dict(prepared.headers))
    try:
        response = urllib.request.urlopen(r)
        return [response.status, json.loads(response.read())]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read())]
out = {}
out["list"] = call("GET", "/repositories")
out["branch"] = call("POST", "/repositories/photos/branches", {"name": "signed", "source": "main"})
out["wrong secret"] = call("GET", "/repositories", secret="x" * 40)
out["tampered body"] = call("POST", "/repositories/photos/branches", {"name": "b1", "source": "main"},
                            tamper=json.dumps({"name": "b2", "source": "main"}).encode())
old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
out["an hour old"] = call("GET", "/repositories", when=old)
print(json.dumps(out))
"#,
    );
    assert_eq!(result["list"][0], json!(200), "{result}");
    assert_eq!(result["list"][1][0]["name"], json!("photos"));
    assert_eq!(
        result["branch"],
        json!([201, {"name": "signed", "commit_id": result["branch"][1]["commit_id"], "imports_only": false}])
    );
    assert_eq!(result["wrong secret"][0], json!(403));
    assert_eq!(result["wrong secret"][1]["code"], json!("signature"));
    assert_eq!(
        result["tampered body"],
        json!([403, {"code": "signature", "message": "the body does not match its x-amz-content-sha256"}])
    );
    assert_eq!(
        result["an hour old"][1]["message"],
        json!("the request's time is more than 15 minutes from the server's")
    );
    let branches =
        integration_tests::ok_json(stack.cli().args(["branch", "list", "photos", "--json"]));
    let names: Vec<&str> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["import-from-inventory", "main", "signed"]);
}
