"""The single-slot holder between live mode's threads."""

from minet_desktop.core.latest import LatestSlot


def test_latest_slot_keeps_only_the_newest():
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4 and slot.take() is None
    assert slot.replaced == 4
