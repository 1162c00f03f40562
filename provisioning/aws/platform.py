"""The shared part of a stack: network, load balancer, ECS cluster, database subnet group.

Nothing here knows about tenants; each `TenantDeployment` plugs into it (its own listener rule
on the load balancer it is placed on, its own security groups), so adding a tenant never changes
a resource of this component. There are as many load balancers as the catalogue's placements
need (`tenant.load_balancer`); load balancer 0 keeps the names (and URNs) of the single ALB
there was before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from provisioning.aws.subnets import SubnetPlan, plan_subnets
from provisioning.service_env import SERVICE_PORT
from provisioning.timeouts import TIMEOUTS
from tenants import names

NOT_FOUND_BODY = json.dumps(
    {"error": {"code": "not_found", "message": "no tenant is served at this host"}}
)
NOT_FOUND_ACTION = {
    "type": "fixed-response",
    "fixed_response": {
        "content_type": "application/json",
        "status_code": "404",
        "message_body": NOT_FOUND_BODY,
    },
}
# TLS 1.2+ with TLS 1.3 preferred (AWS's recommended ALB policy).
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass
class PlatformArgs:
    scope: names.Scope
    availability_zones: list[str]
    region: str
    vpc_cidr: str = "10.0.0.0/16"
    certificate_arn: str | None = None  # with one: HTTPS listener, and HTTP redirects to it
    load_balancers: int = 1  # how many ALBs the catalogue's placements need
    alarm_email: str | None = None  # subscribed to the alarm topic
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadBalancer:
    """One ALB as tenants see it: where to attach a host rule, what DNS should point at."""

    arn_suffix: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    listener_arn: pulumi.Output[str]  # HTTPS with a certificate, else HTTP


class Platform(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    alb_security_group_id: pulumi.Output[str]
    load_balancers: list[LoadBalancer]  # index = a tenant's `load_balancer`
    https: bool
    alarm_topic_arn: pulumi.Output[str]  # every tenant's alarms notify it
    cluster_arn: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    db_subnet_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("silo:provisioning:Platform", name, None, opts)
        if len(args.availability_zones) < 2:
            raise ValueError("the platform needs two availability zones")
        # Logical names (and so URNs) are `<name>-<resource>` under this component.
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)

        vpc, public_ids, private_ids = self._network()
        alb_sg = self._alb_security_group(vpc)
        load_balancers = [
            self._load_balancer(index, alb_sg, public_ids) for index in range(args.load_balancers)
        ]
        cluster = self._cluster()
        db_subnets = self._database_subnets(private_ids)
        topic = self._alarm_topic()

        self.vpc_id = vpc.id
        self.vpc_cidr = args.vpc_cidr
        self.public_subnet_ids = public_ids
        self.private_subnet_ids = private_ids
        self.alb_security_group_id = alb_sg.id
        self.load_balancers = load_balancers
        self.https = bool(args.certificate_arn)
        self.alarm_topic_arn = topic.arn
        self.cluster_arn = cluster.arn
        self.cluster_name = cluster.name
        self.db_subnet_group_name = db_subnets.name
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "albDnsNames": [lb.dns_name for lb in load_balancers],
                "clusterName": self.cluster_name,
            }
        )

    def _network(
        self,
    ) -> tuple[aws.ec2.Vpc, list[pulumi.Output[str]], list[pulumi.Output[str]]]:
        """The VPC, its internet gateway, and a public and a private subnet per zone."""
        name, scope, tags = self._name, self._args.scope, self._args.tags
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=self._args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": names.vpc(scope)},
            opts=self._child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": names.vpc(scope)}, opts=self._child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            tags={**tags, "Name": f"{names.vpc(scope)}-public"},
            opts=self._child,
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=self._child,
        )
        public_ids: list[pulumi.Output[str]] = []
        private_ids: list[pulumi.Output[str]] = []
        private_routes: list[pulumi.Output[str]] = []
        zones = self._args.availability_zones[:2]
        for index, plan in enumerate(plan_subnets(self._args.vpc_cidr, zones)):
            public, private, routes = self._zone(index, plan, vpc, gateway, public_routes)
            public_ids.append(public.id)
            private_ids.append(private.id)
            private_routes.append(routes.id)
        self._s3_endpoint(vpc, private_routes)
        return vpc, public_ids, private_ids

    def _s3_endpoint(self, vpc: aws.ec2.Vpc, route_table_ids: list[pulumi.Output[str]]) -> None:
        """Tasks reach S3 through a gateway endpoint (free) instead of the NAT gateways, which
        charge for every byte processed: uploads and downloads are nearly all of it."""
        aws.ec2.VpcEndpoint(
            f"{self._name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            tags={**self._args.tags, "Name": f"{names.vpc(self._args.scope)}-s3"},
            opts=self._child,
        )

    def _zone(
        self,
        index: int,
        plan: SubnetPlan,
        vpc: aws.ec2.Vpc,
        gateway: aws.ec2.InternetGateway,
        public_routes: aws.ec2.RouteTable,
    ) -> tuple[aws.ec2.Subnet, aws.ec2.Subnet, aws.ec2.RouteTable]:
        """One zone's public subnet with its NAT gateway, and its private subnet routed to it."""
        suffix = f"{self._name}-{index}"
        vpc_name = names.vpc(self._args.scope)
        zone_tags = {**self._args.tags, "silo:zone": plan.availability_zone}
        public = aws.ec2.Subnet(
            f"{suffix}-public",
            vpc_id=vpc.id,
            availability_zone=plan.availability_zone,
            cidr_block=plan.public_cidr,
            tags={**zone_tags, "Name": f"{vpc_name}-public-{index}"},
            opts=self._child,
        )
        aws.ec2.RouteTableAssociation(
            f"{suffix}-public",
            subnet_id=public.id,
            route_table_id=public_routes.id,
            opts=self._child,
        )
        # One NAT gateway per AZ: tasks keep reaching S3, ECR and Secrets Manager when a
        # zone fails.
        address = aws.ec2.Eip(f"{suffix}-nat", domain="vpc", tags=zone_tags, opts=self._child)
        nat = aws.ec2.NatGateway(
            f"{suffix}-nat",
            subnet_id=public.id,
            allocation_id=address.allocation_id,
            tags={**zone_tags, "Name": f"{vpc_name}-{index}"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        private = aws.ec2.Subnet(
            f"{suffix}-private",
            vpc_id=vpc.id,
            availability_zone=plan.availability_zone,
            cidr_block=plan.private_cidr,
            map_public_ip_on_launch=False,
            tags={**zone_tags, "Name": f"{vpc_name}-private-{index}"},
            opts=self._child,
        )
        private_routes = aws.ec2.RouteTable(
            f"{suffix}-private",
            vpc_id=vpc.id,
            tags={**zone_tags, "Name": f"{vpc_name}-private-{index}"},
            opts=self._child,
        )
        aws.ec2.Route(
            f"{suffix}-private-default",
            route_table_id=private_routes.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=self._child,
        )
        aws.ec2.RouteTableAssociation(
            f"{suffix}-private",
            subnet_id=private.id,
            route_table_id=private_routes.id,
            opts=self._child,
        )
        return public, private, private_routes

    def _alb_security_group(self, vpc: aws.ec2.Vpc) -> aws.ec2.SecurityGroup:
        """Clients in on the listening ports; out to the service port inside the VPC. One group
        for every ALB. A single egress rule, not one per tenant: a group holds 60 rules by
        default, and per-tenant rules would add no isolation, since each task's group admits
        only this group."""
        name = self._name
        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb",
            name=names.alb_security_group(self._args.scope),
            description="Silo load balancer: HTTP(S) from anywhere, to tenant tasks only",
            vpc_id=vpc.id,
            tags=self._args.tags,
            opts=self._child,
        )
        for port in [80, 443] if self._args.certificate_arn else [80]:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{port}",
                security_group_id=alb_sg.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"clients on {port}",
                opts=self._child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-tasks",
            security_group_id=alb_sg.id,
            cidr_ipv4=self._args.vpc_cidr,
            ip_protocol="tcp",
            from_port=SERVICE_PORT,
            to_port=SERVICE_PORT,
            description="to tenant tasks (each task's group admits only this group)",
            opts=self._child,
        )
        return alb_sg

    def _load_balancer(
        self, index: int, alb_sg: aws.ec2.SecurityGroup, public_ids: list[pulumi.Output[str]]
    ) -> LoadBalancer:
        """ALB number `index` with its listeners. Load balancer 0 keeps the logical names it
        had when it was the only one, so existing stacks keep their URNs."""
        suffix = "" if index == 0 else f"-{index}"
        alb = aws.lb.LoadBalancer(
            f"{self._name}-alb{suffix}",
            name=names.load_balancer(self._args.scope, index),
            load_balancer_type="application",
            internal=False,
            security_groups=[alb_sg.id],
            subnets=public_ids,
            drop_invalid_header_fields=True,
            # Below the service's keep-alive, so the ALB never reuses a connection the task
            # has just closed (a 502). An upload streaming bytes is never idle.
            idle_timeout=TIMEOUTS.alb_idle,
            tags=self._args.tags,
            opts=self._child,
        )
        listener = self._listeners(alb, suffix)
        self._metrics_rule(listener, suffix)
        return LoadBalancer(
            arn_suffix=alb.arn_suffix,
            dns_name=alb.dns_name,
            zone_id=alb.zone_id,
            listener_arn=listener.arn,
        )

    def _metrics_rule(self, listener: aws.lb.Listener, suffix: str) -> None:
        """`/metrics` (and below it) from the internet: the JSON 404, ahead of every tenant's
        host rule (the lowest priority, names.METRICS_RULE_PRIORITY). Metrics are scraped
        inside the task, on 127.0.0.1 (docs/operations/alarms.md)."""
        aws.lb.ListenerRule(
            f"{self._name}-metrics-404{suffix}",
            listener_arn=listener.arn,
            priority=names.metrics_rule_priority(),
            conditions=[{"path_pattern": {"values": list(names.METRICS_PATHS)}}],
            actions=[NOT_FOUND_ACTION],
            tags=self._args.tags,
            opts=self._child,
        )

    def _listeners(self, alb: aws.lb.LoadBalancer, suffix: str) -> aws.lb.Listener:
        """The listener tenants attach their host rules to: HTTPS with a certificate (and HTTP
        redirecting to it), else HTTP. Unknown hosts get a JSON 404."""
        name, tags = self._name, self._args.tags
        if not self._args.certificate_arn:
            return aws.lb.Listener(
                f"{name}-http{suffix}",
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[NOT_FOUND_ACTION],
                tags=tags,
                opts=self._child,
            )
        listener = aws.lb.Listener(
            f"{name}-https{suffix}",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=SSL_POLICY,
            certificate_arn=self._args.certificate_arn,
            default_actions=[NOT_FOUND_ACTION],
            tags=tags,
            opts=self._child,
        )
        aws.lb.Listener(
            f"{name}-http{suffix}",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                {
                    "type": "redirect",
                    "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"},
                }
            ],
            tags=tags,
            opts=self._child,
        )
        return listener

    def _cluster(self) -> aws.ecs.Cluster:
        return aws.ecs.Cluster(
            f"{self._name}-cluster",
            name=names.cluster(self._args.scope),
            settings=[{"name": "containerInsights", "value": "enabled"}],
            tags=self._args.tags,
            opts=self._child,
        )

    def _alarm_topic(self) -> aws.sns.Topic:
        """One topic for every tenant's alarms; `silo:alarmEmail` subscribes an address (AWS
        mails a confirmation link first: nothing arrives until it is followed)."""
        topic = aws.sns.Topic(
            f"{self._name}-alarms",
            name=names.alarm_topic(self._args.scope),
            tags=self._args.tags,
            opts=self._child,
        )
        if self._args.alarm_email:
            aws.sns.TopicSubscription(
                f"{self._name}-alarms-email",
                topic=topic.arn,
                protocol="email",
                endpoint=self._args.alarm_email,
                opts=self._child,
            )
        return topic

    def _database_subnets(self, private_ids: list[pulumi.Output[str]]) -> aws.rds.SubnetGroup:
        return aws.rds.SubnetGroup(
            f"{self._name}-db",
            name=names.db_subnet_group(self._args.scope),
            description="Silo tenant databases: private subnets only",
            subnet_ids=private_ids,
            tags=self._args.tags,
            opts=self._child,
        )
