from collections import Counter

from itc.selection import Selector, name_similarity, select_api_sets
from tests.itc.conftest import make_tool


def _catalog():
    tools = []
    for i in range(8):
        tools.append(make_tool(f"us-news-{i}", "United States", "News",
                               [(f"headlines{i}", f"Top news headlines in category {i}", ["category"], ["title"])]))
    for i in range(6):
        tools.append(make_tool(f"global-util-{i}", "Global", "Tools",
                               [(f"convert{i}", f"Convert units of measure, variant {i}", ["value"], ["result"])]))
    tools.append(make_tool("jp-rail", "Japan", "Travel", [("train_times", "Train timetable between two stations in Japan",
                                                          ["from", "to"], ["departure"])]))
    tools.append(make_tool("ke-weather", "Kenya", "Weather", [("getWeatherForecast", "Weather forecast for a city in Kenya",
                                                              ["city"], ["forecast"])]))
    tools.append(make_tool("fx", "Global", "Finance", [
        ("latest_rates", "Latest currency exchange rates for a base currency", ["base"], ["rates"]),
        ("list_currencies", "List all supported currencies and their codes", [], ["currency_code"]),
        ("convert_currency", "Convert an amount from one currency to another", ["amount", "currency_code"], ["value"]),
    ]))
    tools.append(make_tool("weather-a", "Global", "Weather", [("get_weather_forecast", "Daily weather forecast for a city",
                                                               ["city"], ["forecast"])]))
    tools.append(make_tool("weather-b", "Global", "Weather", [("get_weather_forecasts", "Weather forecast by city name",
                                                               ["city"], ["forecast"])]))
    tools.append(make_tool("cats", "Global", "Animals", [("cat_fact", "A random fact about cats", [], ["fact"])]))
    return tools


def test_geographic_diversity_moves_the_country_mix_toward_rare_countries(embed):
    tools = _catalog()
    sets = select_api_sets(tools, embed, counts={"single": 8}, seed=1)
    catalog_share = sum(t["country"] in ("Japan", "Kenya") for t in tools) / len(tools)
    chosen = Counter(s["country"] for s in sets)
    assert chosen["Japan"] >= 1 and chosen["Kenya"] >= 1
    assert (chosen["Japan"] + chosen["Kenya"]) / len(sets) > 2 * catalog_share
    assert max(chosen.values()) <= len(sets) / 2  # no country dominates
    assert {s["language"] for s in sets if s["country"] == "Japan"} == {"ja"}
    assert sets == select_api_sets(tools, embed, counts={"single": 8}, seed=1)  # deterministic


def test_disambiguation_set_holds_the_near_namesakes(embed):
    sel = Selector(_catalog(), embed, seed=0)
    idx = {r["name"]: i for i, r in enumerate(sel.rows)}
    names = {sel.rows[j]["name"] for j in sel.namesakes(idx["get_weather_forecast"])}
    assert {"get_weather_forecasts", "getWeatherForecast"} <= names and "cat_fact" not in names
    assert name_similarity("getWeatherForecast", "get_weather_forecast") == 1.0
    # an anchor from Kenya (rarest, first) carries its namesakes side by side
    chosen = sel.select("single", "x")
    assert chosen["country"] == "Kenya" and chosen["apis"][0] == "ke-weather::getWeatherForecast"
    assert {"weather-a::get_weather_forecast", "weather-b::get_weather_forecasts"} <= set(chosen["apis"])
    assert chosen["roles"]["weather-a::get_weather_forecast"] == "namesake"


def test_functional_variety_for_parallel_and_nested(embed):
    fx_only = [t for t in _catalog() if t["tool_id"] in ("fx", "cats")]
    sel = Selector(fx_only, embed, seed=0)
    idx = {r["name"]: i for i, r in enumerate(sel.rows)}
    similar = [sel.rows[j]["name"] for j in sel.similar(idx["latest_rates"], set())]
    assert similar and "cat_fact" not in similar and similar[0] in ("list_currencies", "convert_currency")
    nested = sel.select("nested", "n")
    # list_currencies outputs currency_code, which convert_currency takes: a chain
    assert nested["apis"][:2] == ["fx::list_currencies", "fx::convert_currency"]
    assert nested["roles"]["fx::convert_currency"] == "next"
