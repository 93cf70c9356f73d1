"""openstacksdk at the newest compute microversion against Orrery: create/list/show servers,
server groups, usage, reset-state. Prints one JSON line of what it saw; the test asserts on it.
Credentials come from OS_* in the environment (the cloud's openrc)."""
import json
import os
import sys

import openstack

conn = openstack.connect(
    auth_url=os.environ["OS_AUTH_URL"],
    username=os.environ["OS_USERNAME"],
    password=os.environ["OS_PASSWORD"],
    project_name=os.environ["OS_PROJECT_NAME"],
    user_domain_name=os.environ.get("OS_USER_DOMAIN_NAME", "Default"),
    project_domain_name=os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default"),
    compute_api_version="2.latest",
)
compute = conn.compute
seen = {}

version = compute.get_endpoint_data().max_microversion
seen["max_microversion"] = f"{version[0]}.{version[1]}" if isinstance(version, tuple) else str(version)

group = compute.create_server_group(name="sdk-group", policy="anti-affinity")
seen["group_policy"] = group.policy
seen["groups_listed"] = sorted(g.name for g in compute.server_groups())

image = next(conn.image.images(name=sys.argv[1]))
flavor = compute.find_flavor("m1.tiny")
server = compute.create_server(
    name="sdk-vm", image_id=image.id, flavor_id=flavor.id, networks="none",
    scheduler_hints={"group": group.id},
)
server = compute.wait_for_server(server, status="ACTIVE", wait=60)
seen["server_status"] = server.status
shown = compute.get_server(server.id)
seen["flavor_embedded"] = shown.flavor.get("original_name") if isinstance(shown.flavor, dict) else getattr(shown.flavor, "original_name", None)
seen["listed"] = sorted(s.name for s in compute.servers())
seen["group_members"] = compute.get_server_group(group.id).member_ids

compute.reset_server_state(server, "error")
seen["after_reset"] = compute.get_server(server.id).status

usage = list(compute.usages())
seen["usage_projects"] = len(usage)

compute.delete_server(server)
compute.wait_for_delete(server, wait=60)
compute.delete_server_group(group)
seen["groups_after_delete"] = sorted(g.name for g in compute.server_groups())
print(json.dumps(seen))
