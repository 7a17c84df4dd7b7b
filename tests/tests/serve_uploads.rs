//! Uploads through the S3 endpoint: multipart uploads from boto3 and the AWS CLI, and
//! bodies checked against the checksums clients send (headers, `Content-MD5` and
//! `aws-chunked` trailers). A body that does not match, or that never arrives whole,
//! leaves nothing behind: no change on the branch, no object in the storage namespace.

use integration_tests::LocalStack;
use integration_tests::serve::{Server, bucket_versions};
use serde_json::json;

/// The objects under the repository's storage namespace that hold uploaded bytes.
async fn uploaded_objects(stack: &LocalStack) -> Vec<String> {
    let s3 = aws_sdk_s3::Client::new(&stack.config);
    let listed = s3
        .list_objects_v2()
        .bucket("catalog-storage")
        .prefix("photos/data/")
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// `diff photos main`, as text.
fn diff(stack: &LocalStack) -> String {
    let output = stack
        .cli()
        .args(["diff", "photos", "main"])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn multipart_uploads_from_boto3_and_the_aws_cli_become_uncommitted_changes() {
    let stack = LocalStack::start().await;
    stack.imported_photos(3, false).await;
    let before = bucket_versions(&stack, "photos-source").await;
    let server = Server::start(&stack);
    let result = server.boto3(
        r#"
import io, os
from boto3.s3.transfer import TransferConfig
data = os.urandom(20 * 1024 * 1024 + 123)
s3.upload_fileobj(io.BytesIO(data), "photos", "main/big/twenty.bin",
                  Config=TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024))
got = s3.get_object(Bucket="photos", Key="main/big/twenty.bin")
body = got["Body"].read()
ranged = s3.get_object(Bucket="photos", Key="main/big/twenty.bin", Range="bytes=10485760-10485769")["Body"].read()
# One PutObject larger than a part: stored in parts behind the scenes.
single = os.urandom(9 * 1024 * 1024 + 7)
s3.put_object(Bucket="photos", Key="main/big/single.bin", Body=single)
single_back = s3.get_object(Bucket="photos", Key="main/big/single.bin")["Body"].read() == single

# The low-level calls: list, abort, and the errors S3 gives.
part = b"p" * (5 * 1024 * 1024)
up = s3.create_multipart_upload(Bucket="photos", Key="main/big/aborted.bin")["UploadId"]
e1 = s3.upload_part(Bucket="photos", Key="main/big/aborted.bin", UploadId=up, PartNumber=1, Body=part)["ETag"]
s3.upload_part(Bucket="photos", Key="main/big/aborted.bin", UploadId=up, PartNumber=2, Body=b"tail")
listed_uploads = [(u["Key"], u["UploadId"] == up) for u in s3.list_multipart_uploads(Bucket="photos").get("Uploads", [])]
parts = [(p["PartNumber"], p["Size"], p["ETag"] == e1) for p in s3.list_parts(Bucket="photos", Key="main/big/aborted.bin", UploadId=up)["Parts"]]
errors = {}
def code(name, call):
    try:
        call()
        errors[name] = None
    except botocore.exceptions.ClientError as e:
        errors[name] = e.response["Error"]["Code"]
code("wrong etag", lambda: s3.complete_multipart_upload(Bucket="photos", Key="main/big/aborted.bin", UploadId=up,
     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0123"'}]}))
code("descending", lambda: s3.complete_multipart_upload(Bucket="photos", Key="main/big/aborted.bin", UploadId=up,
     MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e1}, {"PartNumber": 1, "ETag": e1}]}))
small = s3.create_multipart_upload(Bucket="photos", Key="main/big/small.bin")["UploadId"]
s1 = s3.upload_part(Bucket="photos", Key="main/big/small.bin", UploadId=small, PartNumber=1, Body=b"tiny")["ETag"]
s2 = s3.upload_part(Bucket="photos", Key="main/big/small.bin", UploadId=small, PartNumber=2, Body=b"tiny")["ETag"]
code("small part", lambda: s3.complete_multipart_upload(Bucket="photos", Key="main/big/small.bin", UploadId=small,
     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]}))
code("other key", lambda: s3.list_parts(Bucket="photos", Key="main/big/other.bin", UploadId=up))
code("import branch", lambda: s3.create_multipart_upload(Bucket="photos", Key="import-from-inventory/x.bin"))
s3.abort_multipart_upload(Bucket="photos", Key="main/big/aborted.bin", UploadId=up)
s3.abort_multipart_upload(Bucket="photos", Key="main/big/small.bin", UploadId=small)
code("after abort", lambda: s3.upload_part(Bucket="photos", Key="main/big/aborted.bin", UploadId=up, PartNumber=3, Body=b"x"))
code("aborted object", lambda: s3.head_object(Bucket="photos", Key="main/big/aborted.bin"))
left = s3.list_multipart_uploads(Bucket="photos").get("Uploads", [])
print(json.dumps({"same": body == data, "size": got["ContentLength"], "etag": got["ETag"],
    "ranged": ranged == data[10485760:10485770], "single": single_back, "listed_uploads": listed_uploads, "parts": parts,
    "errors": errors, "left": len(left)}))
"#,
    );
    assert_eq!(result["same"], json!(true));
    assert_eq!(result["size"], json!(20 * 1024 * 1024 + 123));
    assert!(
        result["etag"].as_str().unwrap().ends_with("-3\""),
        "{result}"
    );
    assert_eq!(result["ranged"], json!(true));
    assert_eq!(result["single"], json!(true));
    assert_eq!(
        result["listed_uploads"],
        json!([["main/big/aborted.bin", true]])
    );
    assert_eq!(result["parts"], json!([[1, 5242880, true], [2, 4, false]]));
    assert_eq!(
        result["errors"],
        json!({
            "wrong etag": "InvalidPart",
            "descending": "InvalidPartOrder",
            "small part": "EntityTooSmall",
            "other key": "NoSuchUpload",
            "import branch": "AccessDenied",
            "after abort": "NoSuchUpload",
            "aborted object": "404",
        })
    );
    assert_eq!(result["left"], json!(0));

    // The AWS CLI splits files over 8 MiB into parts too, both ways.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cli.bin");
    let bytes: Vec<u8> = (0..(17u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    server.aws(&[
        "s3",
        "cp",
        file.to_str().unwrap(),
        "s3://photos/main/big/cli.bin",
    ]);
    let back = dir.path().join("back.bin");
    server.aws(&[
        "s3",
        "cp",
        "s3://photos/main/big/cli.bin",
        back.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&back).unwrap() == bytes);

    assert_eq!(
        diff(&stack),
        "+ big/cli.bin\n+ big/single.bin\n+ big/twenty.bin\n3 added, 0 removed, 0 changed\n"
    );
    // Only the three objects hold bytes: aborted parts are gone.
    assert_eq!(uploaded_objects(&stack).await.len(), 3);
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}

#[tokio::test]
async fn bodies_that_do_not_match_their_checksums_are_bad_digest_and_store_nothing() {
    let stack = LocalStack::start().await;
    stack.imported_photos(2, false).await;
    let mut server = Server::start(&stack);
    let result = server.boto3(
        r#"
import base64, zlib, socket, time, urllib.parse, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials(s3._request_signer._credentials.access_key, s3._request_signer._credentials.secret_key)
endpoint = s3.meta.endpoint_url
errors = {}
def code(name, call):
    try:
        call()
        errors[name] = None
    except botocore.exceptions.ClientError as e:
        errors[name] = [e.response["Error"]["Code"], e.response["Error"].get("Message", "")]

# boto3's defaults: a CRC32 trailer on an aws-chunked body.
good = s3.put_object(Bucket="photos", Key="main/sums/good.txt", Body=b"checked bytes")
crc = base64.b64encode(zlib.crc32(b"checked bytes").to_bytes(4, "big")).decode()
code("crc32 header", lambda: s3.put_object(Bucket="photos", Key="main/sums/bad-crc.txt", Body=b"abc", ChecksumCRC32="AAAAAA=="))
code("sha256 header", lambda: s3.put_object(Bucket="photos", Key="main/sums/bad-sha.txt", Body=b"abc",
     ChecksumSHA256=base64.b64encode(b"x" * 32).decode()))
code("content-md5", lambda: s3.put_object(Bucket="photos", Key="main/sums/bad-md5.txt", Body=b"abc",
     ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode()))
up = s3.create_multipart_upload(Bucket="photos", Key="main/sums/parts.bin")["UploadId"]
code("part crc32", lambda: s3.upload_part(Bucket="photos", Key="main/sums/parts.bin", UploadId=up, PartNumber=1,
     Body=b"part", ChecksumCRC32="AAAAAA=="))
parts = s3.list_parts(Bucket="photos", Key="main/sums/parts.bin", UploadId=up).get("Parts", [])
s3.abort_multipart_upload(Bucket="photos", Key="main/sums/parts.bin", UploadId=up)

# A trailer that does not match, sent as current CLIs send it.
def chunked(key, data, trailer_value):
    body = b"%x\r\n" % len(data) + data + b"\r\n0\r\n" + b"x-amz-checksum-crc32:" + trailer_value.encode() + b"\r\n\r\n"
    url = endpoint + "/photos/" + urllib.parse.quote(key)
    request = AWSRequest(method="PUT", url=url, data=body, headers={
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)), "content-length": str(len(body))})
    SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    r = urllib.request.Request(url, data=body, method="PUT", headers=dict(request.headers))
    try:
        urllib.request.urlopen(r)
        return 200
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return [e.code, text.split("<Code>")[1].split("</Code>")[0]]
trailer_good = chunked("main/sums/trailer-good.txt", b"trailed bytes",
    base64.b64encode(zlib.crc32(b"trailed bytes").to_bytes(4, "big")).decode())
trailer_bad = chunked("main/sums/trailer-bad.txt", b"trailed bytes", "AAAAAA==")

# A client that goes away after a part of its body: nothing of it is kept.
request = AWSRequest(method="PUT", url=endpoint + "/photos/main/sums/cut.bin", data=b"",
    headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": str(10 * 1024 * 1024)})
SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
host, port = endpoint.split("//")[1].split(":")
sock = socket.create_connection((host, int(port)))
head = "PUT /photos/main/sums/cut.bin HTTP/1.1\r\nHost: %s:%s\r\n" % (host, port)
for name, value in request.headers.items():
    if name.lower() != "host":
        head += "%s: %s\r\n" % (name, value)
sock.sendall((head + "\r\n").encode() + b"c" * (1024 * 1024))
sock.close()
time.sleep(1)
code("cut", lambda: s3.head_object(Bucket="photos", Key="main/sums/cut.bin"))
still = s3.get_object(Bucket="photos", Key="main/sums/good.txt")["Body"].read().decode()
print(json.dumps({"good": good.get("ChecksumCRC32") == crc, "errors": errors, "parts": len(parts),
    "trailer_good": trailer_good, "trailer_bad": trailer_bad, "still": still}))
"#,
    );
    let errors = &result["errors"];
    for (name, header) in [
        ("crc32 header", "x-amz-checksum-crc32"),
        ("sha256 header", "x-amz-checksum-sha256"),
        ("part crc32", "x-amz-checksum-crc32"),
    ] {
        assert_eq!(errors[name][0], json!("BadDigest"), "{name}: {result}");
        let message = errors[name][1].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "the {header} you specified did not match the calculated checksum: expected "
            )),
            "{name}: {message}"
        );
    }
    assert_eq!(errors["content-md5"][0], json!("BadDigest"));
    assert_eq!(errors["cut"][0], json!("404"));
    assert_eq!(result["good"], json!(true), "{result}");
    assert_eq!(result["parts"], json!(0));
    assert_eq!(result["trailer_good"], json!(200));
    assert_eq!(result["trailer_bad"], json!([400, "BadDigest"]));
    assert_eq!(result["still"], json!("checked bytes"));
    assert!(server.running());

    assert_eq!(
        diff(&stack),
        "+ sums/good.txt\n+ sums/trailer-good.txt\n2 added, 0 removed, 0 changed\n"
    );
    assert_eq!(uploaded_objects(&stack).await.len(), 2);
}
