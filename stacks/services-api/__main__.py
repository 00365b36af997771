"""API stack: an API Gateway HTTP API with a Cognito JWT authorizer. /fn/* goes to the
Lambda function, /api/* and the public /health go to the application load balancer over
an HTTP proxy integration (optionally adding a shared-secret X-Origin-Verify header), and
an auto-deployed, throttled stage writes access logs to an encrypted log group."""

import json

import pulumi
import pulumi_aws as aws

STACK = "services-api"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

user_pool_id = config.require("userPoolId")
client_id = config.require("userPoolClientId")
function_arn = config.require("functionArn")
invoke_arn = config.require("invokeArn")
alb_dns_name = config.require("albDnsName")
kms_key_arn = config.require("kmsKeyArn")
stage_name = config.get("stageName", "$default")
cors_origins = config.get_object("corsAllowedOrigins", ["*"])
burst_limit = config.get_int("throttlingBurstLimit", 100)
rate_limit = config.get_float("throttlingRateLimit", 50.0)
log_retention = config.get_int("logRetentionDays", 30)
api_key = config.get_secret("apiKeyValue", "")

log_name = f"/aws/apigateway/{prefix}-http-api"
log_group = aws.cloudwatch.LogGroup(
    "access-logs", name=log_name, retention_in_days=log_retention, kms_key_id=kms_key_arn, tags=tags
)

cors = {"allow_origins": cors_origins, "allow_methods": ["*"], "allow_headers": ["*"]}
api = aws.apigatewayv2.Api(
    "http-api", name=f"{prefix}-http-api", protocol_type="HTTP", cors_configuration=cors, tags=tags
)

issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
authorizer = aws.apigatewayv2.Authorizer(
    "cognito",
    api_id=api.id,
    name="cognito",
    authorizer_type="JWT",
    identity_sources=["$request.header.Authorization"],
    jwt_configuration={"audiences": [client_id], "issuer": issuer},
)

lambda_integration = aws.apigatewayv2.Integration(
    "lambda",
    api_id=api.id,
    integration_type="AWS_PROXY",
    integration_method="POST",
    integration_uri=invoke_arn,
    payload_format_version="2.0",
)
aws.lambda_.Permission(
    "api-invoke",
    function=function_arn,
    action="lambda:InvokeFunction",
    principal="apigateway.amazonaws.com",
    source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
)

# Forward the original path to the ALB; add the shared-secret header when one is set.
origin_header = api_key.apply(lambda key: {"append:header.X-Origin-Verify": key} if key else {})
alb_parameters = origin_header.apply(lambda header: {"overwrite:path": "$request.path", **header})
alb_integration = aws.apigatewayv2.Integration(
    "alb",
    api_id=api.id,
    integration_type="HTTP_PROXY",
    integration_method="ANY",
    integration_uri=f"http://{alb_dns_name}",
    request_parameters=alb_parameters,
)

routes = [
    ("health", "GET /health", alb_integration, False),
    ("api", "ANY /api/{proxy+}", alb_integration, True),
    ("fn", "ANY /fn/{proxy+}", lambda_integration, True),
]
for name, route_key, integration, protected in routes:
    aws.apigatewayv2.Route(
        f"route-{name}",
        api_id=api.id,
        route_key=route_key,
        target=pulumi.Output.concat("integrations/", integration.id),
        authorization_type="JWT" if protected else "NONE",
        authorizer_id=authorizer.id if protected else None,
    )

throttling = {"throttling_burst_limit": burst_limit, "throttling_rate_limit": rate_limit}
fields = ["requestId", "routeKey", "status", "responseLatency", "identity.sourceIp"]
stage = aws.apigatewayv2.Stage(
    "stage",
    api_id=api.id,
    name=stage_name,
    auto_deploy=True,
    default_route_settings=throttling,
    access_log_settings={
        "destination_arn": log_group.arn,
        "format": json.dumps({field: f"$context.{field}" for field in fields}),
    },
    tags=tags,
)

endpoint = api.api_endpoint  # $default is served at the root, other stages at /<stageName>
if stage_name != "$default":
    endpoint = pulumi.Output.concat(api.api_endpoint, "/", stage.name)

pulumi.export("apiEndpoint", endpoint)
pulumi.export("apiId", api.id)
pulumi.export("stageName", stage.name)
pulumi.export("authorizerId", authorizer.id)
pulumi.export("accessLogGroupName", log_group.name)
