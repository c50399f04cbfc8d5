"""Redraw proposals in the API: what is not geometry (that is :mod:`gis.edit`) and not HTTP routes
(those are :mod:`api.routes.proposals`).

- :mod:`~api.proposals.geojson`: units in and out as GeoJSON (WGS84), checked on the way in.
- :mod:`~api.proposals.review`: the review of a proposal (sizes, the street's findings, what it adds).
- :mod:`~api.proposals.operations`: proposals made by ``gis.simulate`` (rebalance, merge, split).
- :mod:`~api.proposals.states`: the states and :data:`~api.proposals.states.TRANSITIONS`.
- :mod:`~api.proposals.repository`: proposals and their events in the store.
- :mod:`~api.proposals.schemas`: the bodies of the requests.
"""
