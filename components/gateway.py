"""GatewayNetwork and GeoDns: the Google Cloud side of GKE Inference Gateway.

GatewayNetwork (one per region): the VPC's proxy-only subnet the regional Envoy load balancers need
(``purpose REGIONAL_MANAGED_PROXY``, ``role ACTIVE``; GKE docs, deploy-gke-inference-gateway: "You must enable a
proxy-only subnet"; Google Cloud allows one per region per VPC, so a VPC that has one says so with
``gateway.proxySubnetCidr: null``), and, when DNS names the service, a reserved regional address the Gateway takes
(``addresses: [{type: NamedAddress}]``).

GeoDns: one Cloud DNS record with a geolocation routing policy, answering each client with its nearest region's
gateway address (Cloud DNS routing policies; pulumi-gcp dns.RecordSet ``routing_policy.geos``). It is the
documented alternative to the multi-cluster Inference Gateway (fleet, config cluster, GCPInferencePoolImport),
which needs every cluster in one VPC and a global proxy-only subnet that clashes with the regional one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from .base import inherited_depends_on


@dataclass(frozen=True, kw_only=True)
class GatewayNetworkArgs:
    project: str
    region: str
    network: str
    proxy_subnet_cidr: str | None
    address_name: str | None  # reserve a regional external address for the Gateway (DNS across regions)
    labels: pulumi.Input[dict[str, str]] | None = None


class GatewayNetwork(pulumi.ComponentResource):
    proxy_subnet: gcp.compute.Subnetwork | None
    address: gcp.compute.Address | None

    def __init__(self, name: str, args: GatewayNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gateway:GatewayNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts))
        self.proxy_subnet = None
        if args.proxy_subnet_cidr is not None:
            self.proxy_subnet = gcp.compute.Subnetwork(
                f"{name}-proxy-subnet",
                name=f"tpustack-proxy-{args.region}",
                project=args.project,
                region=args.region,
                network=args.network,
                ip_cidr_range=args.proxy_subnet_cidr,
                purpose="REGIONAL_MANAGED_PROXY",
                role="ACTIVE",
                opts=child,
            )
        self.address = None
        if args.address_name is not None:
            # gke-l7-regional-external-managed takes a regional external address by name (NamedAddress)
            self.address = gcp.compute.Address(
                f"{name}-address",
                name=args.address_name,
                project=args.project,
                region=args.region,
                address_type="EXTERNAL",
                network_tier="STANDARD",
                labels=args.labels,
                opts=child,
            )
        self.register_outputs({"address": self.address.address if self.address is not None else None})


@dataclass(frozen=True, kw_only=True)
class GeoDnsArgs:
    project: str
    managed_zone: str
    name: str  # fully qualified, ending in '.'
    addresses: dict[str, pulumi.Input[str]]  # region -> its gateway's address


class GeoDns(pulumi.ComponentResource):
    record: gcp.dns.RecordSet

    def __init__(self, name: str, args: GeoDnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gateway:GeoDns", name, None, opts)
        self.record = gcp.dns.RecordSet(
            f"{name}-record",
            project=args.project,
            managed_zone=args.managed_zone,
            name=args.name,
            type="A",
            ttl=30,
            routing_policy={"geos": [{"location": r, "rrdatas": [a]} for r, a in args.addresses.items()]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=inherited_depends_on(opts)),
        )
        self.register_outputs({"name": args.name})
