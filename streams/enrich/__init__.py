"""Enrichment of normalized OCSF records: names, user context, user agent, IP, threat intel."""

from .enricher import Enricher, Step
from .ipclass import IpClass, IpClassifier, classify_ip
from .names import NameBook
from .record import RawView, Record, upsert_enrichment
from .roster import Roster, UserContext
from .threatintel import IpRangeSet, ListEntry, ThreatList, ThreatMatch, parse_list
from .useragent import UserAgentInfo, UserAgentParser, parse_with_ua_parser

__all__ = [
    "Enricher",
    "IpClass",
    "IpClassifier",
    "IpRangeSet",
    "ListEntry",
    "NameBook",
    "RawView",
    "Record",
    "Roster",
    "Step",
    "ThreatList",
    "ThreatMatch",
    "UserAgentInfo",
    "UserAgentParser",
    "UserContext",
    "classify_ip",
    "parse_list",
    "parse_with_ua_parser",
    "upsert_enrichment",
]
