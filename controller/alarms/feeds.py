"""The data path as a root cause: each gateway's stream of telemetry, judged on its own.

A lamp goes quiet for two kinds of reason: the lamp (its node, its supply), or the path its
reports take (its gateway, the broker, the gateway's feed). The controller tells them apart per
source, the gateway a lamp's readings come from (`telemetry_batch.source`):

- a feed is *silent* when no batch of it has arrived for `stale_after_s` of the controller's
  clock, and *behind* when the newest reading of its latest batch was taken more than
  `stale_after_s` before the batch arrived (a gateway replaying a backlog after a pause), or
  when the gateway says its polling is that far behind its schedule (`behind_s` of the batch:
  a Modbus poller that cannot keep up leaves its lamps unread while the rest flows);
  a gateway that says it is offline (its last will, or its "stopped" status) is stale at once;
- a stale feed raises one `data_stale` alarm on its gateway, naming the lag and the lamps that
  wait on it, and holds its lamps' offline judgement until the feed is back and caught up (a
  lamp not heard since the controller started waits while any feed is stale);
  then the alarm clears and its lamps' silence is counted from that moment;
- a lamp's silence is counted from the arrival of its last report (the controller's clock), not
  from the time the reading was taken: a lamp whose reports arrive late, but arrive, is never
  offline.

`stale_after_s` is twice the reporting interval: longer than a small gateway's gap between
batches, and shorter than the `offline_intervals` (3) a lamp is given, so the data path is found
at fault before any of its lamps could be.

While the controller's own link to the broker is down nothing is judged (every feed would look
silent): the feeds resume from the moment the link is back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controller.alarms.book import AlarmBook
from streetlight.domain import AlarmType

STALE_INTERVALS = 2.0  # a feed is stale after this many reporting intervals of silence or lag


@dataclass(slots=True)
class Feed:
    """One gateway's stream, as the controller sees it."""

    source: str
    arrived: datetime  # controller clock: when its latest batch arrived
    lag_s: float = 0.0  # arrival of its latest batch - the newest reading in it
    polling_behind_s: float = 0.0  # the gateway's own word on its polling
    said_offline: bool = False  # the gateway's own status (last will or stopped)
    stale: bool = False
    resumed: datetime | None = None  # when it was last caught up again after being stale
    lamps: set[str] = field(default_factory=set)

    @property
    def asset(self) -> str:
        return f"gateway:{self.source}"


class Feeds:
    def __init__(self, book: AlarmBook, report_interval_s: float) -> None:
        self.book = book
        self.stale_after_s = STALE_INTERVALS * report_interval_s
        self.feeds: dict[str, Feed] = {}
        self.link_up = True  # the controller's own link to the broker
        self._link_back: datetime | None = None

    def get(self, source: str | None) -> Feed | None:
        return self.feeds.get(source) if source is not None else None

    def arrived(
        self, source: str, newest: datetime | None, at: datetime, behind_s: float | None = None
    ) -> Feed:
        """A batch of `source` arrived at `at` (the controller's clock); its newest reading was
        taken at `newest` (None: a batch without readings); its gateway's polling is `behind_s`
        behind its schedule."""
        feed = self.feeds.get(source)
        if feed is None:
            feed = self.feeds[source] = Feed(source, at)
        feed.arrived = max(feed.arrived, at)
        feed.polling_behind_s = behind_s or 0.0
        if newest is not None:
            feed.lag_s = max(0.0, (at - newest).total_seconds())
        return feed

    def status(self, source: str, online: bool, at: datetime) -> None:
        """The gateway's own word: online, or offline (its last will, or stopped)."""
        feed = self.feeds.get(source)
        if feed is None:
            if online:
                return  # nothing to judge until its telemetry comes
            feed = self.feeds[source] = Feed(source, at)
        feed.said_offline = not online

    def link(self, up: bool, at: datetime) -> None:
        """The controller's own link to the broker went down or came back."""
        if up and not self.link_up:
            self._link_back = at
        self.link_up = up

    def holds(self, feed: Feed | None) -> bool:
        """Whether a lamp of this feed waits with its offline judgement; a lamp not heard yet
        (no feed) waits while any feed is stale: its reports may be the ones held up there."""
        if not self.link_up:
            return True
        if feed is None:
            return any(f.stale for f in self.feeds.values())
        return feed.stale

    def since(self, feed: Feed | None) -> datetime | None:
        """From when silence counts for the lamps of this feed (besides their own reports): its
        return, or the link's; for a lamp not heard yet, the latest return of any feed."""
        if feed is not None:
            resumed = [feed.resumed]
        else:
            resumed = [f.resumed for f in self.feeds.values()]
        moments = [m for m in (self._link_back, *resumed) if m is not None]
        return max(moments, default=None)

    def tick(self, now: datetime) -> None:
        """Judge every feed: raise `data_stale` on one that stopped or fell behind, clear it on
        one that is back and caught up."""
        if not self.link_up:
            return
        for feed in self.feeds.values():
            silent_s = (now - max(feed.arrived, self._link_back or feed.arrived)).total_seconds()
            silent = silent_s > self.stale_after_s
            behind = max(feed.lag_s, feed.polling_behind_s) > self.stale_after_s
            stale = feed.said_offline or silent or behind
            if stale:
                if not feed.stale:
                    feed.stale = True
                    feed.resumed = None
                why = (
                    "its gateway says it is offline"
                    if feed.said_offline
                    else f"no telemetry for {silent_s:.0f} s"
                    if silent
                    else f"telemetry {max(feed.lag_s, feed.polling_behind_s):.0f} s behind"
                )
                self.book.observe(
                    AlarmType.DATA_STALE,
                    feed.asset,
                    True,
                    now,
                    raise_after=1,
                    clear_after=1,
                    detail=f"{why}; {len(feed.lamps)} lamps wait for it",
                )
            elif feed.stale:
                feed.stale = False
                feed.resumed = now
                self.book.observe(
                    AlarmType.DATA_STALE, feed.asset, False, now, raise_after=1, clear_after=1
                )
