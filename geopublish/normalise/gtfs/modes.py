"""Human labels for GTFS ``route_type`` codes: basic types and Google's extended types."""

from __future__ import annotations

BASIC: dict[int, str] = {
    0: "Tram",
    1: "Subway/Metro",
    2: "Rail",
    3: "Bus",
    4: "Ferry",
    5: "Cable tram",
    6: "Aerial lift",
    7: "Funicular",
    11: "Trolleybus",
    12: "Monorail",
}

EXTENDED: dict[int, str] = {
    100: "Railway Service",
    101: "High Speed Rail",
    102: "Long Distance Trains",
    103: "Inter Regional Rail",
    104: "Car Transport Rail",
    105: "Sleeper Rail",
    106: "Regional Rail",
    107: "Tourist Railway",
    108: "Rail Shuttle (Within Complex)",
    109: "Suburban Railway",
    110: "Replacement Rail",
    111: "Special Rail",
    112: "Lorry Transport Rail",
    113: "All Rail Services",
    114: "Cross-Country Rail",
    115: "Vehicle Transport Rail",
    116: "Rack and Pinion Railway",
    117: "Additional Rail",
    200: "Coach",
    201: "International Coach",
    202: "National Coach",
    203: "Shuttle Coach",
    204: "Regional Coach",
    205: "Special Coach",
    206: "Sightseeing Coach",
    207: "Tourist Coach",
    208: "Commuter Coach",
    209: "All Coach Services",
    300: "Suburban Railway",
    400: "Urban Railway",
    401: "Metro",
    402: "Underground",
    403: "Urban Railway",
    404: "All Urban Railway Services",
    405: "Monorail",
    500: "Metro",
    600: "Underground",
    700: "Bus",
    701: "Regional Bus",
    702: "Express Bus",
    703: "Stopping Bus",
    704: "Local Bus",
    705: "Night Bus",
    706: "Post Bus",
    707: "Special Needs Bus",
    708: "Mobility Bus",
    709: "Mobility Bus for Registered Disabled",
    710: "Sightseeing Bus",
    711: "Shuttle Bus",
    712: "School Bus",
    713: "School and Public Service Bus",
    714: "Rail Replacement Bus",
    715: "Demand and Response Bus",
    716: "All Bus Services",
    800: "Trolleybus",
    900: "Tram",
    901: "City Tram",
    902: "Local Tram",
    903: "Regional Tram",
    904: "Sightseeing Tram",
    905: "Shuttle Tram",
    906: "All Tram Services",
    1000: "Water Transport",
    1100: "Air",
    1200: "Ferry",
    1300: "Aerial Lift",
    1400: "Funicular",
    1500: "Taxi",
    1501: "Communal Taxi",
    1502: "Water Taxi",
    1503: "Rail Taxi",
    1504: "Bike Taxi",
    1505: "Licensed Taxi",
    1506: "Private Hire Vehicle",
    1507: "All Taxi Services",
    1600: "Self Drive",
    1700: "Miscellaneous",
    1702: "Horse-drawn Carriage",
}


def parse_route_type(value: object) -> int | None:
    """Return ``value`` as an integer route_type when it is a known code, else None."""
    try:
        code = int(str(value).strip())
    except ValueError:
        return None
    return code if route_type_label(code) is not None else None


def route_type_label(code: int) -> str | None:
    """Return the label of a route_type, its hundred-range group label, or None if unknown.

    Parameters
    ----------
    code
        A basic (0-12) or extended (100-1799) GTFS route_type.

    Returns
    -------
    str or None
        ``"Bus"`` for 3 or 700, ``"Coach"`` for 299 (group of 200), None for 8 or 2000.
    """
    if code in BASIC:
        return BASIC[code]
    if code in EXTENDED:
        return EXTENDED[code]
    if 100 <= code < 1800:
        return EXTENDED.get(code - code % 100)
    return None
