"""ClusterSpec: the ``NAME[:key=value,...]`` syntax, its defaults per kOps version, and its errors."""

from __future__ import annotations

import pytest

from kops_local.seed import ClusterSpec, InvalidClusterSpec, KopsVersion


def test_name_alone_gets_every_default() -> None:
    # Given only a cluster name
    # When it is parsed
    spec = ClusterSpec.parse("demo.k8s.local")

    # Then the defaults apply: kOps 1.21, calico, 3 workers of which all but one are Spot, 4 pods each
    assert spec == ClusterSpec(
        name="demo.k8s.local",
        kops="1.21",
        networking="calico",
        nodes=3,
        pods=4,
        spot=2,
        auth="eksconfigmap",
        naming="ip",
    )
    assert spec.on_demand == 1


@pytest.mark.parametrize(
    ("kops", "auth"),
    [
        ("1.11", "mountedfile"),
        ("1.15", "mountedfile"),
        ("1.16", "mountedfile"),
        ("1.17", "mountedfile"),
        ("1.18", "mountedfile"),
        ("1.19", "eksconfigmap"),
        ("1.20", "eksconfigmap"),
        ("1.21", "eksconfigmap"),
        ("1.22", "eksconfigmap"),
    ],
)
def test_default_auth_follows_the_kops_version(kops: str, auth: str) -> None:
    # Given a kOps version and no auth setting
    # When the spec is parsed
    spec = ClusterSpec.parse(f"demo.k8s.local:kops={kops}")

    # Then backendMode (kOps 1.19+) brings the EKS-style aws-auth ConfigMap, older ones the mounted file
    assert spec.auth == auth


def test_every_setting_is_read() -> None:
    # Given a spec that sets everything
    text = "shop.example.com:kops=1.17,networking=kube-router,nodes=5,pods=10,spot=3,auth=none,naming=id"

    # When it is parsed
    spec = ClusterSpec.parse(text)

    # Then each setting lands in its field
    assert (spec.name, spec.kops, spec.networking) == ("shop.example.com", "1.17", "kube-router")
    assert (spec.nodes, spec.pods, spec.spot, spec.auth, spec.naming) == (5, 10, 3, "none", "id")
    assert spec.kops_version == KopsVersion(1, 17)


@pytest.mark.parametrize(("nodes", "spot"), [(1, 0), (2, 1), (5, 4)])
def test_spot_defaults_to_all_workers_but_one(nodes: int, spot: int) -> None:
    # Given a worker count without a spot count
    # When parsed
    spec = ClusterSpec.parse(f"demo.k8s.local:nodes={nodes}")

    # Then one worker stays on-demand
    assert spec.spot == spot


@pytest.mark.parametrize(
    "networking", ["calico", "kube-router", "cilium", "weave", "flannel", "amazon-vpc-routed-eni", "kubenet"]
)
def test_every_networking_provider_is_accepted(networking: str) -> None:
    assert ClusterSpec.parse(f"demo.k8s.local:networking={networking}").networking == networking


@pytest.mark.parametrize(
    ("kops", "release", "kubernetes"),
    [
        ("1.11", "1.11.1", "1.11.10"),
        ("1.17", "1.17.2", "1.17.17"),
        ("1.21", "1.21.4", "1.21.14"),
        ("1.21.2", "1.21.2", "1.21.14"),
        ("1.9", "1.9.0", "1.9.0"),  # unsupported by the product, but well-formed: it must be able to say no
        ("1.30.1", "1.30.1", "1.30.0"),
        ("2.0", "2.0.0", "2.0.0"),
    ],
)
def test_any_well_formed_kops_version_is_accepted(kops: str, release: str, kubernetes: str) -> None:
    # Given a kOps version, known or not
    # When parsed
    version = ClusterSpec.parse(f"demo.k8s.local:kops={kops}").kops_version

    # Then it resolves to a full release and the Kubernetes version that release runs
    assert (version.release, version.kubernetes_version) == (release, kubernetes)


def test_str_round_trips() -> None:
    # Given a parsed spec with defaults filled in
    spec = ClusterSpec.parse("demo.k8s.local:kops=1.18,nodes=4,naming=id")

    # When it is printed and parsed again
    # Then nothing changes
    assert ClusterSpec.parse(str(spec)) == spec


def test_a_cluster_can_be_seeded_in_another_region() -> None:
    spec = ClusterSpec.parse("far.k8s.local:nodes=2,region=eu-west-1")
    assert spec.region == "eu-west-1" and ClusterSpec.parse(str(spec)) == spec
    # (without the setting: the local system's region)
    assert ClusterSpec.parse("near.k8s.local").region is None


def test_whitespace_around_settings_is_ignored() -> None:
    assert ClusterSpec.parse(" demo.k8s.local : kops = 1.17 , nodes = 2 ") == ClusterSpec.parse(
        "demo.k8s.local:kops=1.17,nodes=2"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("demo.k8s.local:color=blue", "unknown setting 'color'"),
        ("demo.k8s.local:networking=canal", "networking='canal' is not one of"),
        ("demo.k8s.local:auth=oidc", "auth='oidc' is not one of"),
        ("demo.k8s.local:kops=1.17,auth=crd", "auth=crd needs kOps 1.19 or later"),
        ("demo.k8s.local:naming=dns", "naming='dns' is not one of"),
        ("demo.k8s.local:region=moon-1", "setting region: 'moon-1' is not an AWS region name"),
        ("demo.k8s.local:nodes=0", "nodes=0 must be between 1 and"),
        ("demo.k8s.local:nodes=three", "nodes='three' must be a non-negative whole number"),
        ("demo.k8s.local:pods=-1", "pods='-1' must be a non-negative whole number"),
        ("demo.k8s.local:nodes=2,spot=3", "spot=3 must be between 0 and 2"),
        ("demo.k8s.local:kops=1", "kops='1'"),
        ("demo.k8s.local:kops=latest", "kops='latest'"),
        ("demo.k8s.local:kops=1.x", "kops='1.x'"),
        ("demo.k8s.local:kops=1.21,kops=1.17", "given twice"),
        ("demo.k8s.local:kops", "not of the form key=value"),
        ("demo.k8s.local:kops=", "not of the form key=value"),
        ("demo.k8s.local:", "not of the form key=value"),
        (":kops=1.21", "has no cluster name"),
        ("demo", "not a DNS name"),
        ("Demo.k8s.local", "not a DNS name"),
        ("demo_1.k8s.local", "not a DNS name"),
        ("-demo.k8s.local", "not a DNS name"),
    ],
)
def test_bad_specs_raise_a_clear_typed_error(text: str, message: str) -> None:
    # Given a malformed spec
    # When parsed
    # Then InvalidClusterSpec (a ValueError) names the problem
    with pytest.raises(InvalidClusterSpec, match=message.replace("(", r"\(").replace(".", r"\.")):
        ClusterSpec.parse(text)


def test_invalid_cluster_spec_is_a_value_error() -> None:
    assert issubclass(InvalidClusterSpec, ValueError)


def test_direct_construction_is_validated_too() -> None:
    # Given a dataclass built by hand with an impossible Spot count
    # When constructed
    # Then the same validation applies
    with pytest.raises(InvalidClusterSpec, match="spot=4"):
        ClusterSpec(
            name="demo.k8s.local",
            kops="1.21",
            networking="calico",
            nodes=3,
            pods=4,
            spot=4,
            auth="none",
            naming="ip",
        )
