"""The lamps under each node of the asset tree, for group commands.

A group command names any node: a lamp, a circuit, a cabinet, a site, a community, a
subdistrict or the district. `Members` works out every node's lamps once, when the gateway
starts, so a command costs a lookup rather than a pass over the whole inventory.
"""

from __future__ import annotations

from streetlight.domain import Inventory


class Members:
    """The lamps under each node of one inventory (which does not change while it runs)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        levels = ("cabinet_id", "site_id", "community_id", "subdistrict_id")
        tables: tuple[dict[str, list[str]], ...] = (
            {cabinet: [] for cabinet in inventory.cabinets},
            {site: [] for site in inventory.sites},
            {community: [] for community in inventory.communities},
            {subdistrict: [] for subdistrict in inventory.subdistricts},
        )
        for lamp in inventory.lamps:  # in inventory order, as a group's members are listed
            place = inventory.place(lamp)
            for table, level in zip(tables, levels, strict=True):
                table[getattr(place, level)].append(lamp)
        # an id used at two levels means the most specific node: cabinet, site, community,
        # then subdistrict (lamps, circuits and the district come before all of them)
        self._nodes: dict[str, tuple[str, ...]] = {}
        for table in reversed(tables):
            self._nodes.update((node, tuple(lamps)) for node, lamps in table.items())

    def of(self, node: str) -> list[str] | None:
        """The lamps under any node of the asset tree, or None if there is no such node."""
        inventory = self.inventory
        if node in inventory.lamps:
            return [node]
        if node in inventory.circuits:
            return list(inventory.lamps_on_circuit(node))
        if node == inventory.district.id:
            return list(inventory.lamps)
        lamps = self._nodes.get(node)
        return None if lamps is None else list(lamps)
