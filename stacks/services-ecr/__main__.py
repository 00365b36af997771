"""Container registry stack: an ECR repository for the application image (scan on push,
KMS encryption), a lifecycle policy that expires untagged images and keeps the newest N
images, and managed IAM policies for pushing (CI) and pulling (runtimes) images."""

import json

import pulumi
import pulumi_aws as aws

STACK = "services-ecr"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

kms_key_arn = config.require("kmsKeyArn")
repository_name = config.get("repositoryName", "") or f"{prefix}/app"
retention_count = config.get_int("imageRetentionCount", 30)
untagged_days = config.get_int("untaggedExpiryDays", 7)
tag_mutability = config.get("imageTagMutability", "MUTABLE")
force_delete = config.get_bool("forceDelete", False)

repository = aws.ecr.Repository(
    "app",
    name=repository_name,
    image_tag_mutability=tag_mutability,
    image_scanning_configuration={"scan_on_push": True},
    encryption_configurations=[{"encryption_type": "KMS", "kms_key": kms_key_arn}],
    force_delete=force_delete,
    tags=tags,
)

expire_untagged = {
    "rulePriority": 1,
    "description": f"Expire untagged images after {untagged_days} days",
    "selection": {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": untagged_days,
    },
    "action": {"type": "expire"},
}
keep_newest = {  # a rule on "any" tag status must have the highest priority
    "rulePriority": 2,
    "description": f"Keep the newest {retention_count} images",
    "selection": {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": retention_count,
    },
    "action": {"type": "expire"},
}
aws.ecr.LifecyclePolicy(
    "app-lifecycle",
    repository=repository.name,
    policy=json.dumps({"rules": [expire_untagged, keep_newest]}),
)

pull_actions = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
]
upload_actions = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]
push_actions = [*pull_actions, *upload_actions, "ecr:PutImage"]


def repository_policy(label: str, actions: list) -> aws.iam.Policy:
    """A managed policy granting `actions` on the repository (and its key)."""
    statements = [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": actions, "Resource": repository.arn},
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
        },
    ]
    return aws.iam.Policy(
        f"ecr-{label}",
        name=f"{prefix}-ecr-{label}",
        description=f"{label.capitalize()} images of {repository_name}",
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
        tags=tags,
    )


push_policy = repository_policy("push", push_actions)
pull_policy = repository_policy("pull", pull_actions)

pulumi.export("repositoryUrl", repository.repository_url)
pulumi.export("repositoryArn", repository.arn)
pulumi.export("repositoryName", repository.name)
pulumi.export("registryId", repository.registry_id)
pulumi.export("pushPolicyArn", push_policy.arn)
pulumi.export("pullPolicyArn", pull_policy.arn)
