"""A seeded, CRM-like data set, pre-encoded into 500-record request bodies.

Four entity types (contact 40 %, deal 25 %, ticket 20 %, company 15 %). Each payload is a
plausible object of its kind (owners, stages, addresses, custom fields, comments) padded
with free text to a drawn size: log-normal around 1 KB for 96.7 % of records, 2-10 KB for
3 %, 10-100 KB for 0.3 % (log-uniform): median ~1,010 B, mean ~1,250 B, max ~99 KB. About
10 % of records carry non-ASCII text (accents, CJK, Cyrillic, Greek, Arabic, emoji). Of the records in the first load, 15 % are updates of earlier
records (a stage moved, an amount or owner changed, ~1 % of them tombstones) sent later.

Everything is drawn from one `random.Random(seed)`, so a seed gives the same bytes on
every machine and Python version that keeps `random`'s documented sequence.

Three streams share the same records, body for body:
- `first`: the first load;
- `replay`: the very same bodies again (every record unchanged);
- `replay10`: the same bodies with 10 % of records changed (a later `sourceUpdatedAt`
  and a different value in one or two fields).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

BATCH = 500
BASE_TIME = datetime(2026, 6, 1, 8, 0, 0, tzinfo=UTC)
#: `replay10` changes are stamped after every first-load time, so they supersede
CHANGE_TIME = BASE_TIME + timedelta(days=60)

ENTITY_WEIGHTS = (("contact", 40), ("deal", 25), ("ticket", 20), ("company", 15))
UPDATE_SHARE = 0.15
CHANGE_SHARE = 0.10
DELETE_SHARE_OF_UPDATES = 0.01
NON_ASCII_SHARE = 0.10
#: how many recent records may receive updates (keeps generation memory bounded)
UPDATE_POOL = 8_000

_encode = msgspec.json.Encoder().encode

FIRST_NAMES = (
    "Jane", "Mark", "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan",
    "Sofia", "Mateo", "Chloe", "Arjun", "Priya", "Wei", "Yuki", "Omar", "Fatima", "Lars",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Lee", "Garcia", "Brown", "Nguyen", "Patel", "Kim", "Johnson", "Rossi", "Dubois",
    "Schmidt", "Silva", "Cohen", "Novak", "Jensen", "Okafor", "Tanaka", "Singh", "Moreau", "Berg",
)  # fmt: skip
NON_ASCII_NAMES = (
    "José Núñez", "Zoë Müller", "Łukasz Wąsik", "Søren Ærø", "Chloé Lefèvre", "Đorđe Petrović",
    "Ana Conceição", "İlker Çelik", "王芳", "佐藤 健", "김민준", "Αλέξανδρος Παπαδόπουλος",
    "Дмитрий Иванов", "محمد علي", "Renée Naïve-Crème", "Ólafur Þórsson",
)  # fmt: skip
NON_ASCII_TEXT = (
    "Réunion à Zürich über Preisgestaltung — naïve café ",
    "東京の顧客との打ち合わせ。次のステップを確認。",
    "客户要求提供新的报价单\uff0c请尽快回复。",
    "Клиент просит скидку на годовой контракт. ",
    "Launch 🚀 ready ✅ — follow-up 📞 next week 🙏 ",
    "Ελέγξτε το συμβόλαιο πριν από την Παρασκευή. ",
    "Cliente pidió una demostración mañana, señor Peña. ",
)  # fmt: skip
COMPANY_WORDS = (
    "Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
    "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Wonka", "Gringotts", "Oceanic", "Massive",
    "Blue", "Red", "Silver", "Nimbus", "Quantum", "Atlas", "Polar", "Summit", "Harbor",
)  # fmt: skip
COMPANY_SUFFIX = ("Corp", "GmbH", "Ltd", "Inc", "SA", "AB", "BV", "Group", "Labs", "Systems")
INDUSTRIES = ("software", "retail", "manufacturing", "healthcare", "finance", "logistics",
              "education", "energy", "media", "hospitality")  # fmt: skip
DEAL_STAGES = ("qualification", "discovery", "proposal", "negotiation", "closed_won",
               "closed_lost")  # fmt: skip
DEAL_KINDS = ("renewal", "expansion", "new business", "upsell", "pilot", "migration")
LIFECYCLE = ("subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity",
             "customer", "evangelist")  # fmt: skip
TICKET_STATUS = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "web", "phone", "chat", "api")
CITIES = (("Berlin", "DE"), ("Paris", "FR"), ("London", "GB"), ("Austin", "US"),
          ("Toronto", "CA"), ("Madrid", "ES"), ("Tokyo", "JP"), ("São Paulo", "BR"),
          ("Stockholm", "SE"), ("Kraków", "PL"))  # fmt: skip
TITLES = ("CTO", "VP Sales", "Head of Operations", "Procurement Manager", "Engineer",
          "Founder", "Account Executive", "CFO", "Office Manager", "Data Analyst")  # fmt: skip
TAGS = ("vip", "churn-risk", "partner", "inbound", "outbound", "enterprise", "smb", "q3",
        "renewal", "beta")  # fmt: skip
WORDS = (
    "customer", "asked", "about", "pricing", "for", "the", "annual", "plan", "and", "wants",
    "a", "demo", "next", "week", "integration", "with", "their", "billing", "system", "is",
    "blocked", "by", "security", "review", "legal", "sent", "redlines", "on", "contract",
    "follow", "up", "call", "scheduled", "budget", "approved", "procurement", "needs",
    "invoice", "details", "onboarding", "team", "of", "twelve", "users", "migration", "from",
    "legacy", "platform", "expected", "in", "september", "champion", "left", "company",
    "new", "stakeholder", "identified", "discount", "requested", "not", "approved", "yet",
    "renewal", "risk", "low", "usage", "dropped", "last", "month", "support", "tickets",
    "resolved", "quickly", "positive", "feedback", "roadmap", "questions", "answered",
)  # fmt: skip


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _corpus(rng: random.Random, size: int) -> str:
    """A long ASCII text to cut filler from (cheap: slicing, not word-by-word)."""
    sentences = []
    length = 0
    while length < size:
        words = rng.choices(WORDS, k=rng.randint(6, 18))
        sentence = " ".join(words).capitalize() + ". "
        sentences.append(sentence)
        length += len(sentence)
    return "".join(sentences)


@dataclass(slots=True)
class _Live:
    """What an update needs to know about an earlier record."""

    entity_type: str
    record_id: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Stats:
    records: int = 0
    updates: int = 0
    deletes: int = 0
    non_ascii: int = 0
    payload_sizes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        sizes = sorted(self.payload_sizes)
        if not sizes:
            return {"records": 0}

        def pct(p: float) -> int:
            return sizes[min(len(sizes) - 1, int(p * len(sizes)))]

        return {
            "records": self.records,
            "updates": self.updates,
            "deletes": self.deletes,
            "nonAscii": self.non_ascii,
            "payloadBytes": {
                "median": pct(0.5),
                "mean": round(sum(sizes) / len(sizes)),
                "p90": pct(0.9),
                "p99": pct(0.99),
                "max": sizes[-1],
            },
        }


@dataclass(slots=True)
class Dataset:
    """Request bodies (without `sourceId`: see `with_source`) for the three loads."""

    first: list[bytes]
    replay10: list[bytes]
    stats: Stats

    @property
    def records(self) -> int:
        return self.stats.records


def with_source(body: bytes, source_id: str) -> bytes:
    """Bodies are generated with a placeholder source id of the same length."""
    return body.replace(PLACEHOLDER_SOURCE.encode(), source_id.encode(), 1)


PLACEHOLDER_SOURCE = "00000000-0000-0000-0000-000000000000"


class Generator:
    def __init__(self, seed: int, id_prefix: str = "") -> None:
        self.rng = random.Random(seed)
        self.corpus = _corpus(self.rng, 256 * 1024)
        self.id_prefix = id_prefix
        self.counters = dict.fromkeys((e for e, _ in ENTITY_WEIGHTS), 0)
        self.types = [e for e, _ in ENTITY_WEIGHTS]
        self.cumulative = list(itertools.accumulate(w for _, w in ENTITY_WEIGHTS))
        self.pool: list[_Live] = []
        self.deleted: set[tuple[str, str]] = set()
        self.random = self.rng.random
        self.clock = _millis(BASE_TIME)
        self.change_clock = _millis(CHANGE_TIME)
        self.stats = Stats()
        self._days: dict[int, str] = {}

    # -- cheap draws (random() is one C call; choice/randint are several Python calls) --

    def _pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]

    def _int(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def _tags(self) -> list[str]:
        start = self._int(0, len(TAGS) - 1)
        return list(TAGS[start : start + self._int(0, 3)])

    # -- small random values ---------------------------------------------------------

    def _person(self, non_ascii: bool) -> str:
        if non_ascii and self.random() < 0.6:
            return self._pick(NON_ASCII_NAMES)
        return f"{self._pick(FIRST_NAMES)} {self._pick(LAST_NAMES)}"

    def _email(self, name: str | None = None) -> str:
        if name is None or not name.isascii():
            name = f"{self._pick(FIRST_NAMES)} {self._pick(LAST_NAMES)}"
        first, _, last = name.lower().partition(" ")
        return f"{first}.{last}@{self._pick(COMPANY_WORDS).lower()}.example"

    def _company(self) -> str:
        return (
            f"{self._pick(COMPANY_WORDS)} {self._pick(COMPANY_WORDS)} {self._pick(COMPANY_SUFFIX)}"
        )

    def _address(self) -> dict[str, Any]:
        city, country = self._pick(CITIES)
        return {
            "street": f"{self._int(1, 400)} {self._pick(COMPANY_WORDS)} Street",
            "city": city,
            "postalCode": f"{self._int(10000, 99999)}",
            "country": country,
        }

    def _day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (datetime(1970, 1, 1) + timedelta(days=day)).strftime(
                "%Y-%m-%d"
            )
        return text

    def _date(self, days: int) -> str:
        return self._day(_millis(BASE_TIME) // 86_400_000 + self._int(-days, days))

    def _text(self, size: int) -> str:
        if size <= 0:
            return ""
        start = int(self.random() * (len(self.corpus) - size)) if size < len(self.corpus) else 0
        text = self.corpus[start : start + size]
        while len(text) < size:  # only for sizes beyond the corpus (never by default)
            text += self.corpus[: size - len(text)]
        return text

    def _target_size(self) -> int:
        rng = self.rng
        draw = self.random()
        if draw < 0.003:
            return int(math.exp(rng.uniform(math.log(10_000), math.log(100_000))))
        if draw < 0.033:
            return int(math.exp(rng.uniform(math.log(2_000), math.log(10_000))))
        return max(450, int(rng.lognormvariate(math.log(1_000), 0.22)))

    # -- payloads --------------------------------------------------------------------

    def _payload(self, entity_type: str, record_id: str, non_ascii: bool) -> dict[str, Any]:
        owner = self._email()
        creator = self._email()
        common = {"createdBy": creator, "updatedBy": self._pick((creator, owner))}
        if entity_type == "contact":
            name = self._person(non_ascii)
            first, _, last = name.partition(" ")
            return {
                "firstName": first,
                "lastName": last,
                "fullName": name,
                "email": self._email(name),
                "phone": f"+{self._int(1, 49)} {self._int(100, 999)} {self._int(1000000, 9999999)}",
                "title": self._pick(TITLES),
                "companyId": f"company-{self._int(1, 50_000):07d}",
                "lifecycleStage": self._pick(LIFECYCLE),
                "owner": owner,
                "address": self._address(),
                "consent": {"email": self.random() < 0.7, "sms": self.random() < 0.2},
                "tags": self._tags(),
                **common,
                "notes": "",
            }
        if entity_type == "deal":
            return {
                "name": f"{self._company()} {self._pick(DEAL_KINDS)}",
                "stage": self._pick(DEAL_STAGES),
                "amount": self._int(5, 2_000) * 100,
                "currency": self._pick(("EUR", "USD", "GBP")),
                "probability": self._pick((10, 20, 40, 60, 80, 90)),
                "pipeline": self._pick(("default", "enterprise", "partners")),
                "closeDate": self._date(120),
                "owner": owner,
                "companyId": f"company-{self._int(1, 50_000):07d}",
                "contactIds": [
                    f"contact-{self._int(1, 200_000):07d}" for _ in range(self._int(1, 4))
                ],
                "customFields": {
                    "region": self._pick(("EMEA", "NA", "APAC", "LATAM")),
                    "leadSource": self._pick(CHANNELS),
                    "competitor": self._pick((None, "Globex", "Initech")),
                    "discountPct": round(self.random() * 20, 1),
                },
                **common,
                "description": "",
            }
        if entity_type == "company":
            name = self._company()
            return {
                "name": name,
                "domain": name.split()[0].lower() + ".example",
                "industry": self._pick(INDUSTRIES),
                "employees": self._int(1, 20_000),
                "annualRevenue": self._int(10, 500_000) * 1_000,
                "owner": owner,
                "phone": f"+{self._int(1, 49)} {self._int(100, 999)} {self._int(1000000, 9999999)}",
                "address": self._address(),
                "tags": self._tags(),
                **common,
                "description": "",
            }
        comments = [
            {
                "author": self._email(),
                "at": self._date(30) + "T10:00:00Z",
                "body": self._text(self._int(40, 160)),
            }
            for _ in range(self._int(0, 2))
        ]
        return {
            "subject": f"{self._pick(('Cannot', 'Unable to', 'Question about', 'Error when'))} "
            f"{self._pick(WORDS)} {self._pick(WORDS)}",
            "status": self._pick(TICKET_STATUS),
            "priority": self._pick(PRIORITIES),
            "assignee": owner,
            "requester": self._email(),
            "channel": self._pick(CHANNELS),
            "organizationId": f"company-{self._int(1, 50_000):07d}",
            "comments": comments,
            **common,
            "description": "",
        }

    @staticmethod
    def _text_field(payload: dict[str, Any]) -> str:
        return "notes" if "notes" in payload else "description"

    def _pad(self, payload: dict[str, Any], target: int, non_ascii: bool) -> bytes:
        """Fill the free-text field so that the encoded payload has ~`target` bytes."""
        text_field = self._text_field(payload)
        payload[text_field] = ""
        base = len(_encode(payload))
        prefix = self._pick(NON_ASCII_TEXT) if non_ascii else ""
        room = target - base - len(prefix.encode())
        payload[text_field] = prefix + self._text(room)
        return _encode(payload)

    def _change(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A realistic edit: one status-like field moves, or a value or owner changes."""
        changed = dict(payload)
        editor = self._email()
        changed["updatedBy"] = editor
        if "stage" in changed:
            options = [s for s in DEAL_STAGES if s != changed["stage"]]
            if self.random() < 0.6:
                changed["stage"] = self._pick(options)
                changed["movedToStageBy"] = editor
            else:
                changed["amount"] = int(changed["amount"]) + self._int(1, 50) * 100
        elif "status" in changed:
            changed["status"] = self._pick([s for s in TICKET_STATUS if s != changed["status"]])
            if self.random() < 0.3:
                changed["assignee"] = self._email()
        elif "lifecycleStage" in changed:
            changed["lifecycleStage"] = self._pick(
                [s for s in LIFECYCLE if s != changed["lifecycleStage"]]
            )
            changed["title"] = self._pick(TITLES)
        else:
            changed["employees"] = int(changed["employees"]) + self._int(1, 100)
            if self.random() < 0.3:
                changed["owner"] = self._email()
        return changed

    # -- records ---------------------------------------------------------------------

    def _stamp(self, millis: int) -> str:
        seconds, fraction = divmod(millis, 1000)
        day, second = divmod(seconds, 86_400)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        text = f"{self._day(day)}T{hour:02d}:{minute:02d}:{second:02d}"
        if self.random() < 0.3:
            return f"{text}.{fraction:03d}Z"
        return text + "Z"

    def _next_time(self) -> int:
        self.clock += self._int(1, 900)
        return self.clock

    def record(self, updates: bool = True) -> tuple[dict[str, Any], bytes]:
        """One record of the first load: (envelope fields, encoded payload)."""
        rng = self.rng
        stats = self.stats
        stats.records += 1
        moment = self._next_time()
        non_ascii = self.random() < NON_ASCII_SHARE
        if non_ascii:
            stats.non_ascii += 1
        if updates and self.pool and self.random() < UPDATE_SHARE:
            live = self.pool[int(self.random() * len(self.pool))]
            key = (live.entity_type, live.record_id)
            if key not in self.deleted:
                stats.updates += 1
                fields: dict[str, Any] = {
                    "recordId": live.record_id,
                    "entityType": live.entity_type,
                    "sourceUpdatedAt": self._stamp(moment),
                }
                if self.random() < DELETE_SHARE_OF_UPDATES:
                    stats.deletes += 1
                    self.deleted.add(key)
                    fields["deleted"] = True
                    payload = {"deletedBy": self._email()}
                    encoded = _encode(payload)
                else:
                    live.payload = self._change(live.payload)
                    encoded = _encode(live.payload)
                stats.payload_sizes.append(len(encoded))
                return fields, encoded
        entity_type = rng.choices(self.types, cum_weights=self.cumulative)[0]
        self.counters[entity_type] += 1
        record_id = f"{entity_type}-{self.id_prefix}{self.counters[entity_type]:07d}"
        payload = self._payload(entity_type, record_id, non_ascii)
        encoded = self._pad(payload, self._target_size(), non_ascii)
        stats.payload_sizes.append(len(encoded))
        if updates:
            live = _Live(entity_type, record_id, payload)
            if len(self.pool) < UPDATE_POOL:
                self.pool.append(live)
            else:
                self.pool[int(self.random() * UPDATE_POOL)] = live
        return (
            {
                "recordId": record_id,
                "entityType": entity_type,
                "sourceUpdatedAt": self._stamp(moment),
            },
            encoded,
        )

    def changed(self, fields: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """The `replay10` version of a record: later, with one or two fields changed."""
        self.change_clock += self._int(1, 900)
        decoded = msgspec.json.decode(payload)
        if fields.get("deleted"):
            changed = {"deletedBy": self._email(), "reason": "merged duplicate"}
        else:
            changed = self._change(decoded)
        return {**fields, "sourceUpdatedAt": self._stamp(self.change_clock)}, _encode(changed)


def encode_body(source_id: str, records: list[tuple[dict[str, Any], bytes]]) -> bytes:
    """`{"sourceId", "records": [...]}` with each payload's bytes spliced in verbatim."""
    parts = [b'{"sourceId":"', source_id.encode(), b'","records":[']
    for index, (fields, payload) in enumerate(records):
        if index:
            parts.append(b",")
        head = _encode(fields)
        parts.append(head[:-1])
        parts.append(b',"payload":')
        parts.append(payload)
        parts.append(b"}")
    parts.append(b"]}")
    return b"".join(parts)


def generate(records: int, seed: int) -> Dataset:
    """The data set of `records` records (rounded up to whole bodies of 500)."""
    generator = Generator(seed)
    first: list[bytes] = []
    replay10: list[bytes] = []
    batches = max(1, math.ceil(records / BATCH))
    for _ in range(batches):
        batch = [generator.record() for _ in range(BATCH)]
        first.append(encode_body(PLACEHOLDER_SOURCE, batch))
        changed = [
            generator.changed(*record) if generator.random() < CHANGE_SHARE else record
            for record in batch
        ]
        replay10.append(encode_body(PLACEHOLDER_SOURCE, changed))
    return Dataset(first=first, replay10=replay10, stats=generator.stats)


def preload_bodies(records: int, seed: int) -> Iterator[bytes]:
    """Bodies of distinct records (ids `<type>-p…`) that never collide with `generate`'s.

    Cheap to make: 4,000 payloads drawn like the first load's, each record taking one of
    them with its own `externalId` field spliced in front, so every payload (and content
    hash) is distinct and sizes follow the same distribution.
    """
    generator = Generator(seed + 1, id_prefix="p")
    pool = [generator.record(updates=False) for _ in range(4_000)]
    counters = dict.fromkeys((e for e, _ in ENTITY_WEIGHTS), 0)
    millis = _millis(BASE_TIME) - 400 * 86_400_000  # older than anything the loads send
    for batch_number in range(math.ceil(records / BATCH)):
        batch = []
        for index in range(BATCH):
            fields, payload = pool[(batch_number * 7 + index * 13) % len(pool)]
            entity_type = fields["entityType"]
            counters[entity_type] += 1
            number = counters[entity_type]
            millis += 37
            batch.append(
                (
                    {
                        "recordId": f"{entity_type}-p{number:07d}",
                        "entityType": entity_type,
                        "sourceUpdatedAt": generator._stamp(millis),
                    },
                    b'{"externalId":"x' + str(number).encode() + b'",' + payload[1:],
                )
            )
        yield encode_body(PLACEHOLDER_SOURCE, batch)


def memory_bodies(batches: int, seed: int, payload_bytes: int = 20_700) -> list[bytes]:
    """Bodies of 500 records of ~20 KB each: just under the 10 MiB body limit."""
    generator = Generator(seed + 2, id_prefix="m")
    bodies = []
    for _ in range(batches):
        records = []
        for _ in range(BATCH):
            fields, _ = generator.record(updates=False)
            payload = generator._payload(fields["entityType"], fields["recordId"], False)
            records.append((fields, generator._pad(payload, payload_bytes, False)))
        body = encode_body(PLACEHOLDER_SOURCE, records)
        if len(body) > 10 * 1024 * 1024:
            raise ValueError(f"memory body of {len(body)} bytes exceeds 10 MiB")
        bodies.append(body)
    return bodies
