"""Network, cost and TLS under Pulumi's mocks: the S3 gateway endpoint, TLS-only buckets,
HTTPS unless the stack is a development stack, tenants' own certificates and zones."""

from __future__ import annotations

import json

import pulumi
import pytest

from provisioning.aws import policies
from tests.provisioning.pulumi_harness import ACCOUNT, REGION, resource_id, run_program
from tests.provisioning.test_pulumi_program import ACME, PACK, catalogue_file

CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = catalogue_file(tmp_path_factory.mktemp("tls"), PACK, ACME)
    return run_program(
        path, config={"silo:certificateArn": CERTIFICATE, "silo:hostedZoneId": "ZPLATFORM"}
    )


def test_s3_traffic_takes_the_gateway_endpoint_not_the_nat(run):
    (endpoint,) = run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    inputs = endpoint.inputs
    assert inputs["serviceName"] == f"com.amazonaws.{REGION}.s3"
    assert inputs["vpcEndpointType"] == "Gateway"
    assert inputs["routeTableIds"] == [
        resource_id("silo-test-0-private"),
        resource_id("silo-test-1-private"),
    ]


def test_buckets_refuse_requests_without_tls(run):
    for slug in ("pack", "acme"):
        policy = run.named(f"{slug}-bucket-policy")
        document = json.loads(policy.inputs["policy"])
        # (A GuardDuty tenant's policy also guards its verdict tag: test_scanning_infra.py.)
        statement = document["Statement"][0]
        assert statement["Sid"] == "DenyInsecureTransport"
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert policy.inputs["bucket"] == resource_id(f"{slug}-bucket")
        assert policy.retain_on_delete  # a retained bucket stays TLS-only


def test_the_bucket_policy_only_denies():
    document = policies.bucket_policy(partition="aws", bucket="b")
    assert {s["Effect"] for s in document["Statement"]} == {"Deny"}
    assert document["Statement"][0]["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_aes256_encryption_without_a_bucket_key(run):
    (rule,) = run.named("pack-bucket-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert "bucketKeyEnabled" not in rule


def test_an_http_only_stack_is_refused_unless_marked_development(tmp_path):
    path = catalogue_file(tmp_path, PACK)
    with pytest.raises(pulumi.RunError, match="silo:development"):
        run_program(path, config={"silo:development": None})
    with pytest.raises(pulumi.RunError, match="silo:development"):
        run_program(path, config={"silo:development": "false"})
    plain = run_program(path)
    assert plain.exports["tenants"]["pack"]["url"].startswith("http://")


def test_a_custom_host_gets_its_certificate_on_the_listener_and_its_own_zone(run):
    (certificate,) = run.of_type("aws:lb/listenerCertificate:ListenerCertificate")
    assert certificate.name == "acme-certificate"
    assert certificate.inputs["certificateArn"] == ACME["certificate_arn"]
    assert certificate.inputs["listenerArn"].endswith("/silo-test-https")
    records = {r.name: r.inputs["zoneId"] for r in run.of_type("aws:route53/record:Record")}
    assert records == {"pack-dns": "ZPLATFORM", "acme-dns": "ZACME"}


def test_a_custom_host_without_its_certificate_stops_the_program(tmp_path):
    bare = {k: v for k, v in ACME.items() if k not in ("certificate_arn", "hosted_zone_id")}
    with pytest.raises(pulumi.RunError, match="not covered"):
        run_program(catalogue_file(tmp_path, PACK, bare))
