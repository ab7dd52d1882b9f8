"""Authentication rules: repeated denials (per user or per source IP), login from a new country."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.enrich.record import get_path, log_name

from .base import (
    STATE_VERSION,
    State,
    count_in_window,
    int_field,
    src_ip,
    user_email,
    window_expires_at,
)
from .config import AlertConfig
from .findings import Analytic, Attack, Event, Evidence, Finding, build_finding, event_time

AUTHENTICATION = 3002
LOGON = 1
SUCCESS, FAILURE = 1, 2
BRUTE_FORCE = Attack("T1110", "Brute Force", "TA0006", "Credential Access")
VALID_ACCOUNTS = Attack("T1078", "Valid Accounts", "TA0001", "Initial Access")
#: Cloudflare's "unknown country" code; it never counts as a country.
UNKNOWN_COUNTRY = "XX"


@dataclass(frozen=True, slots=True)
class AccessDenials:
    """(1) ``threshold`` failed authentications for one user (or one IP) within a window.

    Input: Authentication (3002) events with ``status_id`` 2 (Access denials, and failed
    dashboard logins from the audit logs). Subject: ``user:<email>`` or ``ip:<address>``.
    """

    config: AlertConfig = AlertConfig()
    by: Literal["user", "ip"] = "user"

    @property
    def uid(self) -> str:
        """``cfkafka.auth.denials.user`` or ``cfkafka.auth.denials.ip``."""
        return f"cfkafka.auth.denials.{self.by}"

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        return f"Repeated authentication denials per {'user' if self.by == 'user' else 'source IP'}"

    def subject(self, event: Event) -> str | None:
        """``user:<email>`` / ``ip:<address>`` for failed authentications, else None."""
        if (
            int_field(event, "class_uid") != AUTHENTICATION
            or int_field(event, "status_id") != FAILURE
        ):
            return None
        if self.by == "user":
            email = user_email(event)
            return f"user:{email}" if email else None
        ip = src_ip(event)
        return f"ip:{ip}" if ip else None

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """Count the denial; fire once per window when the threshold is reached."""
        subject = self.subject(event)
        if subject is None:
            return state, []
        evidence = Evidence.of(event, now_ms)
        if not evidence.uid:
            return state, []
        result = count_in_window(
            state,
            evidence,
            threshold=self.config.denials_threshold,
            window_ms=self.config.denials_window_s * 1000,
        )
        if not result.fired:
            return result.state, []
        who = subject.partition(":")[2]
        target = "user" if self.by == "user" else "source IP"
        count, window_s = len(result.fired), self.config.denials_window_s
        finding = build_finding(
            analytic=Analytic(self.uid, self.name),
            subject=subject,
            title=f"{count} authentication denials for {target} {who} within {window_s} s",
            desc=(
                f"{count} failed authentications (Access denials or failed logins) for {target} "
                f"{who} within {window_s} seconds (threshold {self.config.denials_threshold})."
            ),
            types=["Brute Force"],
            severity_id=3,
            evidence=result.fired,
            trigger=event,
            now_ms=now_ms,
            max_related=self.config.max_related_events,
            attacks=[BRUTE_FORCE],
            extra={"threshold": self.config.denials_threshold, "window_s": window_s},
        )
        return result.state, [finding]

    def expires_at(self, state: State) -> int | None:
        """When the window and the quiet period are over."""
        return window_expires_at(state, self.config.denials_window_s * 1000)


@dataclass(frozen=True, slots=True)
class NewCountryLogin:
    """(2) A successful Access login from a country never seen for that user.

    Input: Authentication (3002) Logon events with ``status_id`` 1 and ``log_name``
    ``access_requests`` that carry ``src_endpoint.location.country``. Subject:
    ``user:<email>``. The first login ever seen for a user only records its country (unless
    ``new_country_alert_on_first_login``). At most ``new_country_max_countries`` countries
    are kept per user (the least recently seen is dropped).
    """

    config: AlertConfig = AlertConfig()

    @property
    def uid(self) -> str:
        """``cfkafka.auth.new_country``."""
        return "cfkafka.auth.new_country"

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        return "Access login from a new country"

    def subject(self, event: Event) -> str | None:
        """``user:<email>`` for successful Access logins with a country, else None."""
        if (
            int_field(event, "class_uid") != AUTHENTICATION
            or int_field(event, "activity_id") != LOGON
            or int_field(event, "status_id") != SUCCESS
            or log_name(event) != "access_requests"
            or _country(event) is None
        ):
            return None
        email = user_email(event)
        return f"user:{email}" if email else None

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """Remember the login's country; alert when it is new for the user."""
        subject = self.subject(event)
        country = _country(event)
        if subject is None or country is None:
            return state, []
        when = event_time(event, now_ms)
        countries: dict[str, int] = {}
        last = when
        if state:
            countries = {str(k): int(v) for k, v in dict(state.get("countries", {})).items()}
            last = max(int(state.get("last", when)), when)
        known = sorted(countries)
        first_login = not countries
        is_new = country not in countries
        countries[country] = max(countries.get(country, when), when)
        excess = len(countries) - self.config.new_country_max_countries
        if excess > 0:  # forget the least recently seen others (never the current one)
            others = sorted(
                (item for item in countries.items() if item[0] != country),
                key=lambda item: (item[1], item[0]),
            )
            for code, _ in others[:excess]:
                del countries[code]
        new_state: State = {"v": STATE_VERSION, "countries": countries, "last": last}
        if not is_new or (first_login and not self.config.new_country_alert_on_first_login):
            return new_state, []
        evidence = Evidence.of(event, now_ms)
        if not evidence.uid:
            return new_state, []
        who = subject.partition(":")[2]
        seen = ", ".join(known) if known else "none"
        finding = build_finding(
            analytic=Analytic(self.uid, self.name),
            subject=subject,
            title=f"Access login for {who} from a new country: {country}",
            desc=(
                f"{who} logged in through Cloudflare Access from {country}, a country not "
                f"seen for this user before (known: {seen})."
            ),
            types=["New Country Login"],
            severity_id=3,
            evidence=[evidence],
            trigger=event,
            now_ms=now_ms,
            max_related=self.config.max_related_events,
            attacks=[VALID_ACCOUNTS],
            extra={"country": country, "known_countries": known},
        )
        return new_state, [finding]

    def expires_at(self, state: State) -> int | None:
        """``new_country_memory_s`` after the user's last login."""
        return int(state.get("last", 0)) + self.config.new_country_memory_s * 1000


def _country(event: Event) -> str | None:
    country = get_path(event, "src_endpoint", "location", "country")
    if not isinstance(country, str):
        return None
    country = country.strip().upper()
    return country if country and country != UNKNOWN_COUNTRY else None
