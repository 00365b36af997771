"""DNS stack: a Route53 public hosted zone for the deployment domain (with a CAA record
that limits which CA may issue certificates) and a private hosted zone attached to the
VPC for internal service names."""

import pulumi
import pulumi_aws as aws

STACK = "dns"
config = pulumi.Config()
cloud = pulumi.Config("cloud")
deployment_id = cloud.get("deploymentId", "local")
environment = cloud.get("environment", "dev")
base_tags = cloud.get_object("tags", {})
tags = {**base_tags, "DeploymentId": deployment_id, "Environment": environment, "Stack": STACK}

vpc_id = config.require("vpcId")
domain_name = config.get("domainName", "") or cloud.get("domain")
if not domain_name:
    raise ValueError("set dns:domainName or cloud:domain")
private_domain = (
    config.get("privateDomainName", "") or f"{environment}.{deployment_id}.internal".lower()
)
caa_issuer = config.get("caaIssuer", "amazon.com")
force_destroy = config.get_bool("forceDestroy", False)

public_zone = aws.route53.Zone(
    "public-zone",
    name=domain_name,
    comment=f"Public zone of {deployment_id} ({environment})",
    force_destroy=force_destroy,
    tags=tags,
)

# Only the configured CA may issue certificates (including wildcards) for the domain.
aws.route53.Record(
    "public-caa",
    zone_id=public_zone.zone_id,
    name=domain_name,
    type="CAA",
    ttl=3600,
    records=[f'0 issue "{caa_issuer}"', f'0 issuewild "{caa_issuer}"'],
)

private_zone = aws.route53.Zone(
    "private-zone",
    name=private_domain,
    comment=f"Private zone of {deployment_id} ({environment})",
    vpcs=[{"vpc_id": vpc_id}],
    force_destroy=force_destroy,
    tags=tags,
)

pulumi.export("zoneId", public_zone.zone_id)
pulumi.export("zoneName", public_zone.name)
pulumi.export("nameServers", public_zone.name_servers)
pulumi.export("privateZoneId", private_zone.zone_id)
pulumi.export("privateZoneName", private_zone.name)
