//! Bad input to the S3 endpoint gets an S3 error with the code clients expect, and the
//! server keeps serving: unknown repositories and refs, keys too long, malformed XML
//! and query strings, requests signed at the wrong time, bodies too large to be one
//! object.

use integration_tests::LocalStack;
use integration_tests::serve::Server;
use serde_json::json;

#[tokio::test]
async fn bad_requests_get_s3_errors_and_the_server_keeps_serving() {
    let stack = LocalStack::start().await;
    stack.imported_photos(3, false).await;
    let mut server = Server::start(&stack);
    let result = server.boto3(
        r#"
import base64, datetime, socket, urllib.parse, urllib.request, urllib.error
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials(s3._request_signer._credentials.access_key, s3._request_signer._credentials.secret_key)
endpoint = s3.meta.endpoint_url
host, port = endpoint.split("//")[1].split(":")
results = {}

def code(name, call):
    try:
        call()
        results[name] = None
    except botocore.exceptions.ClientError as e:
        results[name] = e.response["Error"]["Code"]
    # After every bad request, the server still answers a good one.
    assert s3.list_objects_v2(Bucket="photos", Prefix="main/")["KeyCount"] == 3

def signed(method, path, body=b"", headers=None, when=None):
    url = endpoint + path
    headers = dict(headers or {})
    headers.setdefault("x-amz-content-sha256", hashlib.sha256(body).hexdigest())
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    if when is None:
        SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    r = urllib.request.Request(prepared.url, data=body or None, method=method, headers=dict(prepared.headers))
    try:
        urllib.request.urlopen(r)
        return 200
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return [e.code, text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text]

def raw(name, call):
    results[name] = call()
    assert s3.list_objects_v2(Bucket="photos", Prefix="main/")["KeyCount"] == 3

code("unknown repository", lambda: s3.get_object(Bucket="nope", Key="main/a"))
code("unknown ref", lambda: s3.get_object(Bucket="photos", Key="no-such-ref/a"))
code("no ref", lambda: s3.get_object(Bucket="photos", Key="justapath"))
code("long key put", lambda: s3.put_object(Bucket="photos", Key="main/" + "k" * 1025, Body=b"x"))
code("long key get", lambda: s3.get_object(Bucket="photos", Key="main/" + "k" * 1025))
raw("malformed xml", lambda: signed("POST", "/photos?delete", b"<Delete><Object><Key>main/a",
    {"content-md5": base64.b64encode(hashlib.md5(b"<Delete><Object><Key>main/a").digest()).decode()}))
raw("malformed completion", lambda: signed("POST", "/photos/main/x.bin?uploadId=123", b"<CompleteMultipartUpload><Part>"))
raw("max-keys not a number", lambda: signed("GET", "/photos?list-type=2&max-keys=many"))
raw("part number not a number", lambda: signed("PUT", "/photos/main/x.bin?partNumber=one&uploadId=1", b"x"))
raw("unknown upload", lambda: signed("PUT", "/photos/main/x.bin?partNumber=1&uploadId=nope", b"x"))
skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
raw("an hour old", lambda: signed("GET", "/photos?list-type=2", when=skewed))

# A body too large to be one object: refused from its headers, before it is read.
def too_large():
    request = AWSRequest(method="PUT", url=endpoint + "/photos/main/huge.bin", data=b"",
        headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": str(5 * 1024**3 + 1)})
    SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    sock = socket.create_connection((host, int(port)))
    head = "PUT /photos/main/huge.bin HTTP/1.1\r\nHost: %s:%s\r\n" % (host, port)
    for name, value in request.headers.items():
        if name.lower() != "host":
            head += "%s: %s\r\n" % (name, value)
    sock.sendall((head + "\r\n").encode() + b"h" * 65536)
    sock.settimeout(10)
    answer = b""
    while b"</Error>" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    text = answer.decode(errors="replace")
    return [int(text.split(" ")[1]), text.split("<Code>")[1].split("</Code>")[0]]
raw("too large", too_large)
code("huge object listed", lambda: s3.head_object(Bucket="photos", Key="main/huge.bin"))
print(json.dumps(results))
"#,
    );
    assert_eq!(
        result,
        json!({
            "unknown repository": "NoSuchBucket",
            "unknown ref": "NoSuchKey",
            "no ref": "NoSuchKey",
            "long key put": "KeyTooLongError",
            "long key get": "KeyTooLongError",
            "malformed xml": [400, "MalformedXML"],
            "malformed completion": [400, "MalformedXML"],
            "max-keys not a number": [400, "InvalidArgument"],
            "part number not a number": [400, "InvalidArgument"],
            "unknown upload": [404, "NoSuchUpload"],
            "an hour old": [403, "RequestTimeTooSkewed"],
            "too large": [400, "EntityTooLarge"],
            "huge object listed": "404",
        })
    );
    assert!(server.running());
}
