"""tether.Compute: keywords from the proto descriptor, converted and
checked as the YAML loader does."""

from __future__ import annotations

import unittest

import tether
from tether.v1 import service_pb2


class ComputeTest(unittest.TestCase):
    def test_every_compute_field_is_a_keyword(self) -> None:
        # A field added to the proto needs no client change.
        for field in service_pb2.Compute.DESCRIPTOR.fields:
            with self.subTest(field=field.name):
                self.assertEqual(tether.Compute(**{field.name: None}), tether.Compute())

    def test_values_convert_as_yaml_scalars_do(self) -> None:
        compute = tether.Compute(
            cpus=2,
            memory="1Gi",
            replicas=3,
            env={"MODEL": "small"},
            allowed_serialization=["json", "CODEC_PICKLE"],
            ttlAction="delete",
            freeze=True,
            tolerations=[{"key": "gpu", "operator": "Exists"}],
            autoscaling={"max_replicas": 4, "target_cpu_utilization": 80},
            affinity={"nodeAffinity": {"x": [1, "y"]}},
        )
        proto = compute.to_proto()
        self.assertEqual(proto.cpus, "2")
        self.assertEqual(proto.replicas, 3)
        self.assertEqual(dict(proto.env), {"MODEL": "small"})
        self.assertEqual(
            list(proto.allowed_serialization), [service_pb2.CODEC_JSON, service_pb2.CODEC_PICKLE]
        )
        self.assertEqual(proto.ttl_action, service_pb2.TTL_ACTION_DELETE)
        self.assertTrue(proto.freeze)
        self.assertEqual(proto.tolerations[0].operator, "Exists")
        self.assertEqual(proto.autoscaling.max_replicas, 4)
        self.assertEqual(proto.affinity["nodeAffinity"]["x"][1], "y")
        self.assertIn("replicas=3", repr(compute))

    def test_mistakes_name_the_field(self) -> None:
        cases = [
            ({"cpu": "1"}, TypeError, 'compute.cpu: unknown field (did you mean "cpus"?)'),
            ({"replicas": "two"}, TypeError, 'compute.replicas: expected an integer, got "two"'),
            ({"replicas": True}, TypeError, "compute.replicas: expected an integer, got true"),
            ({"replicas": 2**40}, ValueError, "compute.replicas: 1099511627776 is out of range"),
            ({"freeze": "yes"}, TypeError, 'compute.freeze: expected true or false, got "yes"'),
            ({"env": ["A"]}, TypeError, "compute.env: expected a mapping, got a list"),
            ({"env": {"A": 1.5}}, None, None),
            ({"preload": "numpy"}, TypeError, 'compute.preload: expected a list, got "numpy"'),
            (
                {"allowed_serialization": ["json", "xml"]},
                ValueError,
                'compute.allowed_serialization[1]: unknown Codec "xml" (expected one of: json, '
                "pickle, raw)",
            ),
            (
                {"volumes": [{"claim": "c"}]},
                TypeError,
                'compute.volumes[0].claim: unknown field (did you mean "claim_name"?)',
            ),
            ({"autoscaling": 3}, TypeError, "compute.autoscaling: expected a mapping, got 3"),
        ]
        for fields, error, message in cases:
            with self.subTest(fields=fields):
                if error is None:
                    tether.Compute(**fields)
                    continue
                with self.assertRaises(error) as raised:
                    tether.Compute(**fields)
                self.assertTrue(str(raised.exception).startswith(message), str(raised.exception))


if __name__ == "__main__":
    unittest.main()
