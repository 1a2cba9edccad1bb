"""Every config dataclass refuses unknown fields with one message naming them."""

import pytest

from handpose_core.nets import SegNetConfig
from handpose_core.training.config import TrainConfig


@pytest.mark.parametrize("cls, good", [(TrainConfig, TrainConfig(epochs=2).to_dict()),
                                       (SegNetConfig, SegNetConfig("fast").to_dict())])
def test_unknown_fields_are_named(cls, good):
    assert cls.from_dict(good).to_dict() == good
    with pytest.raises(ValueError, match=rf"unknown {cls.__name__} fields: \['bogus', 'zz'\]"):
        cls.from_dict({**good, "zz": 1, "bogus": 2})
