"""openstacksdk's network proxy and cloud layer against Orrery's Network v2 API: networks,
subnets, ports, security groups, quotas, extensions, paging. Prints one JSON line of what it
saw; the test asserts on it. Credentials come from OS_* in the environment (the cloud's openrc)."""
import json
import os

import openstack

conn = openstack.connect(
    auth_url=os.environ["OS_AUTH_URL"],
    username=os.environ["OS_USERNAME"],
    password=os.environ["OS_PASSWORD"],
    project_name=os.environ["OS_PROJECT_NAME"],
    user_domain_name=os.environ.get("OS_USER_DOMAIN_NAME", "Default"),
    project_domain_name=os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default"),
)
seen = {}
netp = conn.network
n = conn.create_network("sdk-net")
s = conn.create_subnet(n.id, cidr="10.70.0.0/24", ip_version=4, subnet_name="sdk-sub", enable_dhcp=True)
seen["subnet_pools"] = s.allocation_pools
ports = [netp.create_port(network_id=n.id, name=f"sdk-p{i}") for i in range(5)]
seen["ports_listed"] = len(list(netp.ports(network_id=n.id)))
# Paging: the proxy follows ports_links with limit=2.
seen["paged"] = len(list(netp.ports(network_id=n.id, limit=2, paginated=True)))
seen["by_ip"] = [p.name for p in netp.ports(fixed_ips=[f"ip_address={ports[0].fixed_ips[0]['ip_address']}"])]
seen["network_by_name"] = conn.get_network("sdk-net").id == n.id
sg = netp.find_security_group("default", project_id=conn.current_project_id)
seen["default_rules"] = len(list(netp.security_group_rules(security_group_id=sg.id)))
r = netp.create_security_group_rule(security_group_id=sg.id, direction="ingress", protocol="icmp", ethertype="IPv4")
seen["rule_protocol"] = r.protocol
q = netp.get_quota(conn.current_project_id, details=True)
seen["quota_port"] = q.ports
seen["has_extension_sg"] = conn.has_service("network") and any(e.alias == "security-group" for e in netp.extensions())
netp.update_port(ports[0], name="renamed")
seen["renamed"] = netp.get_port(ports[0].id).name
for p in ports:
    netp.delete_port(p)
conn.delete_subnet(s.id)
conn.delete_network(n.id)
seen["network_gone"] = conn.get_network("sdk-net") is None
print(json.dumps(seen))
