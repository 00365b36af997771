"""Authentication stack: a Cognito user pool (email sign-in, password policy, optional TOTP
MFA), its hosted domain, a confidential app client using the authorization code flow, and a
Secrets Manager secret holding the client credentials for the applications."""

import pulumi
import pulumi_aws as aws

STACK = "authentication"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
region = cloud.get("region", "us-east-1")
prefix = f"{deployment_id}-{environment}".lower()
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

app_domain = config.require("appDomain")
kms_key_arn = config.require("kmsKeyArn")
mfa = config.get("mfa", "OFF")
password_min_length = config.get_int("passwordMinLength", 12)
default_callback = f"https://{app_domain}/auth/callback"
callback_urls = config.get_object("callbackUrls", []) or [default_callback]
token_hours = config.get_int("accessTokenValidityHours", 1)
deletion_protection = config.get_bool("deletionProtection", False)

pool = aws.cognito.UserPool(
    "user-pool",
    name=f"{prefix}-users",
    username_attributes=["email"],
    auto_verified_attributes=["email"],
    mfa_configuration=mfa,
    software_token_mfa_configuration={"enabled": True} if mfa != "OFF" else None,  # TOTP
    password_policy={
        "minimum_length": password_min_length,
        "require_lowercase": True,
        "require_uppercase": True,
        "require_numbers": True,
        "require_symbols": True,
        "temporary_password_validity_days": 7,
    },
    deletion_protection="ACTIVE" if deletion_protection else "INACTIVE",
    tags=tags,
)

domain_prefix = f"{deployment_id}-{environment}-auth".lower()
domain = aws.cognito.UserPoolDomain("user-pool-domain", domain=domain_prefix, user_pool_id=pool.id)

client = aws.cognito.UserPoolClient(
    "app-client",
    name=f"{prefix}-app",
    user_pool_id=pool.id,
    generate_secret=True,
    allowed_oauth_flows_user_pool_client=True,
    allowed_oauth_flows=["code"],
    allowed_oauth_scopes=["openid", "email", "profile"],
    supported_identity_providers=["COGNITO"],
    callback_urls=callback_urls,
    logout_urls=[f"https://{app_domain}/"],
    explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    access_token_validity=token_hours,
    id_token_validity=token_hours,
    token_validity_units={"access_token": "hours", "id_token": "hours", "refresh_token": "days"},
    prevent_user_existence_errors="ENABLED",
)

issuer_url = pulumi.Output.concat("https://cognito-idp.", region, ".amazonaws.com/", pool.id)

credentials = aws.secretsmanager.Secret(
    "client-credentials",
    name=f"{prefix}/auth/client",
    description="Cognito app client credentials",
    kms_key_id=kms_key_arn,
    tags=tags,
)
aws.secretsmanager.SecretVersion(
    "client-credentials-value",
    secret_id=credentials.id,
    secret_string=pulumi.Output.json_dumps(
        {"clientId": client.id, "clientSecret": client.client_secret, "issuer": issuer_url}
    ),
)

pulumi.export("userPoolId", pool.id)
pulumi.export("userPoolArn", pool.arn)
pulumi.export("userPoolClientId", client.id)
pulumi.export("authDomain", domain.domain.apply(lambda d: f"{d}.auth.{region}.amazoncognito.com"))
pulumi.export("issuerUrl", issuer_url)
pulumi.export("clientSecret", pulumi.Output.secret(client.client_secret))
pulumi.export("clientCredentialsSecretArn", credentials.arn)
