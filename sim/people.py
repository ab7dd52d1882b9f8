"""The seeded population shared by the rosters and the feeds (names, emails, IPs, ids)."""

from __future__ import annotations

import random
import uuid

FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "yara")
#: (display name, email part)
LAST = (("Smith", "smith"), ("Jones", "jones"), ("García", "garcia"), ("Chen", "chen"),
        ("Novak", "novak"), ("Okafor", "okafor"), ("Müller", "mueller"), ("O'Brien", "obrien"))


def people(seed: int, account_id: str) -> list[tuple[str, str, str]]:
    """Every (first, last, email) of the account's organisation, in a seeded order."""
    combos = [(f.capitalize(), last, f"{f}.{part}@example.com")
              for f in FIRST for last, part in LAST]
    random.Random(f"{seed}:{account_id}:people").shuffle(combos)
    return combos


def hex_id(rng: random.Random, n: int = 32) -> str:
    """`n` lowercase hex characters."""
    return f"{rng.getrandbits(n * 4):0{n}x}"


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ip_address(rng: random.Random) -> str:
    """An IPv4 (70 %) or IPv6 (documentation prefix) address."""
    if rng.random() < 0.7:
        first = rng.choice((89, 81, 175, 216, 198, 203))
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
    return f"2001:db8:{groups}::{rng.getrandbits(16):x}"
