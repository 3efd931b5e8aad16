"""A seeded, realistic register of individuals (grants), generated for the privacy tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

FIRST = ["Jeanne", "Pierre", "Amina", "Louis", "Chloé", "Karim", "Sylvie", "Hugo", "Inès", "Marc"]
LAST = ["Martinez", "Roussel", "Benali", "Fabre", "Vidal", "Garnier", "Lacombe", "Azaïs"]
STREETS = [
    "rue de l'Aiguillerie",
    "avenue de Lodève",
    "rue du Faubourg Boutonnet",
    "cours Gambetta",
]
# Centres of a few Hérault communes (lon, lat): Montpellier, Castelnau, Lattes, Juvignac.
TOWNS = [(3.8767, 43.6108), (3.9190, 43.6331), (3.9026, 43.5676), (3.8106, 43.6128)]
SPEC = {
    "title": "Aides individuelles",
    "description": "Aides versées à des particuliers (jeu de test).",
    "licence": {"name": "Licence Ouverte 2.0"},
    "attribution": "Test",
    "source": {"parts": [{"path": "register/individuals.geojson"}]},
    "conform": {
        "fields": [
            {"name": "beneficiary", "source": "person_id"},
            {"name": "birth", "source": "birth_date", "type": "date"},
            {"name": "amount", "type": "number"},
            {"name": "programme"},
        ]
    },
    "geometry": {"type": "Point"},
    "privacy": {
        "legal_basis": "art. 6(1)(e) RGPD, mission d'intérêt public",
        "justification": "publication des aides exigée par la délibération (test).",
        "drop": ["name", "address", "comment"],
        "pseudonymise": ["beneficiary"],
        "coarsen": [
            {"field": "birth", "to": "year"},
            {"field": "amount", "bands": [0, 1000, 3000, 10000]},
        ],
        "generalise": {
            "method": "commune",
            "communes": {
                "path": "admin_france_geojson_occitanie/communes-34-herault.geojson",
                "shape": "centroid",
            },
        },
        "k_anonymity": {"k": 20, "quasi_identifiers": ["geometry", "amount"]},
        "attributes": ["programme"],
    },
}


def individuals(n: int = 240, seed: int = 17) -> list[dict]:
    """Rows with name, address, point, birth date, amount and a free-text comment."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}-{i:03d}"
        lon, lat = rnd.choice(TOWNS)
        lon, lat = (
            round(lon + rnd.uniform(-0.008, 0.008), 6),
            round(lat + rnd.uniform(-0.006, 0.006), 6),
        )
        rows.append(
            {
                "person_id": f"P-{rnd.randrange(10**6, 10**7)}",
                "name": name,
                "address": f"{rnd.randrange(1, 200)} {rnd.choice(STREETS)}, appt {i}",
                "birth_date": f"{rnd.randrange(1940, 2005)}-{rnd.randrange(1, 13):02d}-"
                f"{rnd.randrange(1, 29):02d}",
                "amount": round(
                    rnd.choice(
                        [
                            rnd.uniform(100, 999),
                            rnd.uniform(1000, 2999),
                            rnd.uniform(3000, 9999),
                            rnd.uniform(10000, 40000),
                        ]
                    ),
                    2,
                ),
                "comment": f"Dossier suivi par {name}, tél. 06{rnd.randrange(10**7, 10**8)}",
                "programme": rnd.choice(["logement", "énergie", "mobilité"]),
                "lon": lon,
                "lat": lat,
            }
        )
    return rows


def write_register(root: Path, rows: list[dict]) -> Path:
    """The rows as a GeoJSON file under ``root``/register."""
    features = [
        {
            "type": "Feature",
            "properties": {k: v for k, v in row.items() if k not in ("lon", "lat")},
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        }
        for row in rows
    ]
    path = root / "register" / "individuals.geojson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
