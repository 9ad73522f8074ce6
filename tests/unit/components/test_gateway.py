"""GatewayNetwork and GeoDns from their own Args: the proxy-only subnet and address Inference Gateway needs, and
one geolocation record over the regions' addresses."""

from __future__ import annotations

import dataclasses

import pytest

from tpustack.components.gateway import GatewayNetwork, GatewayNetworkArgs, GeoDns, GeoDnsArgs
from tpustack.core import names

from helpers import ADDRESS_BASE, MockStack, after, mock_stack_fixture, stand_in

stack = mock_stack_fixture()

SUBNET = "gcp:compute/subnetwork:Subnetwork"
ADDRESS = "gcp:compute/address:Address"
RECORD = "gcp:dns/recordSet:RecordSet"
PROJECT = "unit-project"
LABELS = {names.LABEL_STACK: "unit", names.LABEL_EXPIRES: "1795420800"}


def net_args(**changes) -> GatewayNetworkArgs:
    base = GatewayNetworkArgs(
        project=PROJECT,
        region="us-east5",
        network="default",
        proxy_subnet_cidr="10.129.0.0/23",  # the config's default (tpustack:gateway.proxySubnetCidr)
        address_name="tpustack-unit-gw-us-east5",
        labels=LABELS,
    )
    return dataclasses.replace(base, **changes)


def network(stack: MockStack, **changes) -> GatewayNetwork:
    return stack.build(lambda: GatewayNetwork("gateway-network", net_args(**changes)))


class TestTheRegionGetsAProxyOnlySubnet:
    def test_regional_managed_proxy_subnet(self, stack):
        comp = network(stack)
        (subnet,) = stack.children(comp, SUBNET)
        assert subnet.name == "gateway-network-proxy-subnet"
        want = {
            "name": "tpustack-proxy-us-east5",
            "project": PROJECT,
            "region": "us-east5",
            "network": "default",
            "ipCidrRange": "10.129.0.0/23",
            "purpose": "REGIONAL_MANAGED_PROXY",
            "role": "ACTIVE",
        }
        assert {k: subnet.inputs.get(k) for k in want} == want
        assert comp.proxy_subnet is not None

    def test_a_vpc_that_has_one_gets_none(self, stack):
        """Google Cloud allows one active proxy-only subnet per region and VPC: proxySubnetCidr null uses it."""
        comp = network(stack, proxy_subnet_cidr=None)
        assert stack.children(comp, SUBNET) == [] and comp.proxy_subnet is None


class TestTheGatewayAddress:
    def test_a_regional_external_address_by_name(self, stack):
        comp = network(stack)
        (address,) = stack.children(comp, ADDRESS)
        want = {
            "name": "tpustack-unit-gw-us-east5",
            "project": PROJECT,
            "region": "us-east5",
            "addressType": "EXTERNAL",
            "networkTier": "STANDARD",
            "labels": LABELS,
        }
        assert {k: address.inputs.get(k) for k in want} == want
        assert comp.address is not None
        assert stack.resolve(comp.address.address).startswith(ADDRESS_BASE)

    def test_without_dns_no_address(self, stack):
        comp = network(stack, address_name=None)
        assert stack.children(comp, ADDRESS) == [] and comp.address is None
        assert [r.type for r in stack.descendants(comp)] == [SUBNET]


class TestChildrenWaitForTheApis:
    def test_subnet_and_address_wait_for_the_apis(self, stack):
        def make():
            apis = stand_in("apis-ready")
            return apis, GatewayNetwork("gateway-network", net_args(), opts=after(apis))

        apis, comp = stack.build(make)
        children = stack.children(comp)
        assert {r.type for r in children} == {SUBNET, ADDRESS}
        for r in children:
            assert r.waits_for(stack.urn(apis)), r.urn

    def test_the_record_waits_for_the_apis_and_the_addresses(self, stack):
        def make():
            apis = stand_in("apis-ready")
            east = GatewayNetwork("gw-east", net_args(), opts=after(apis))
            west = GatewayNetwork(
                "gw-west", net_args(region="us-west4", address_name="tpustack-unit-gw-us-west4"), opts=after(apis)
            )
            assert east.address is not None and west.address is not None
            dns = GeoDns(
                "dns",
                GeoDnsArgs(
                    project=PROJECT,
                    managed_zone="unit-zone",
                    name="llm.unit.example.com.",
                    addresses={"us-east5": east.address.address, "us-west4": west.address.address},
                ),
                opts=after(apis),
            )
            return apis, east, west, dns

        apis, east, west, dns = stack.build(make)
        record = stack.record(dns.record)
        assert record.waits_for(stack.urn(apis))
        for net in (east, west):
            assert net.address is not None
            assert record.waits_for(stack.urn(net.address))


class TestGeoDnsAnswersWithTheNearestRegion:
    def build(self, stack: MockStack, addresses: dict[str, str]) -> GeoDns:
        args = GeoDnsArgs(project=PROJECT, managed_zone="unit-zone", name="llm.unit.example.com.", addresses=addresses)
        return stack.build(lambda: GeoDns("dns", args))

    def test_one_geo_item_per_region(self, stack):
        addresses = {"us-east5": "203.0.113.20", "europe-west4": "203.0.113.21"}
        comp = self.build(stack, addresses)
        (record,) = stack.children(comp, RECORD)
        assert record.name == "dns-record"
        assert (record.inputs["type"], record.inputs["ttl"]) == ("A", 30)
        assert record.inputs["managedZone"] == "unit-zone" and record.inputs["name"] == "llm.unit.example.com."
        assert record.inputs["routingPolicy"] == {
            "geos": [
                {"location": "us-east5", "rrdatas": ["203.0.113.20"]},
                {"location": "europe-west4", "rrdatas": ["203.0.113.21"]},
            ]
        }
        assert "rrdatas" not in record.inputs, "a routing policy record carries its data in the policy"

    @pytest.mark.parametrize("regions", [1, 3])
    def test_any_number_of_regions(self, stack, regions):
        addresses = {f"region-{i}": f"203.0.113.{30 + i}" for i in range(regions)}
        comp = self.build(stack, addresses)
        (record,) = stack.children(comp, RECORD)
        assert [g["location"] for g in record.inputs["routingPolicy"]["geos"]] == list(addresses)
