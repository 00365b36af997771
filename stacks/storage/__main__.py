"""Storage stack: two private S3 buckets - application assets and log archives - each with
versioning, default SSE-KMS encryption with the platform key, a full public access block
and a lifecycle configuration (old versions expire; logs are archived, then deleted)."""

import pulumi
import pulumi_aws as aws

STACK = "storage"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

kms_key_arn = config.require("kmsKeyArn")
noncurrent_days = config.get_int("noncurrentVersionDays", 30)
archive_days = config.get_int("logArchiveDays", 30)
retention_days = config.get_int("logRetentionDays", 365)
force_destroy = config.get_bool("forceDestroy", False)
if retention_days <= archive_days:
    raise ValueError("logRetentionDays must be greater than logArchiveDays")
# Bucket names are global: suffix them with the account ID when it is known.
account = cloud.get("account")
name_suffix = f"-{account}" if account else ""


def private_bucket(label: str, lifecycle_rules: list) -> aws.s3.Bucket:
    """A versioned, KMS-encrypted, non-public bucket with the given lifecycle rules."""
    bucket = aws.s3.Bucket(
        label,
        bucket=f"{prefix}-{label}{name_suffix}",
        force_destroy=force_destroy,
        tags={**tags, "Purpose": label},
    )
    aws.s3.BucketVersioning(
        f"{label}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}
    )
    kms = {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{label}-sse",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": kms, "bucket_key_enabled": True}],
    )
    aws.s3.BucketPublicAccessBlock(
        f"{label}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{label}-lifecycle", bucket=bucket.id, rules=lifecycle_rules
    )
    return bucket


every_object = {"prefix": ""}
expire_old_versions = {
    "id": "expire-noncurrent-versions",
    "status": "Enabled",
    "filter": every_object,
    "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
}
archive_logs = {
    "id": "archive-then-expire-logs",
    "status": "Enabled",
    "filter": every_object,
    "transitions": [{"days": archive_days, "storage_class": "GLACIER_IR"}],
    "expiration": {"days": retention_days},
    "noncurrent_version_expiration": {"noncurrent_days": 1},
}

assets = private_bucket("assets", [expire_old_versions])
logs = private_bucket("logs", [archive_logs])

pulumi.export("assetsBucketName", assets.bucket)
pulumi.export("assetsBucketArn", assets.arn)
pulumi.export("logsBucketName", logs.bucket)
pulumi.export("logsBucketArn", logs.arn)
