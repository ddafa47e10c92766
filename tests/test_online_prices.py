"""`--prices-from yfinance` with the network edge replaced by a stand-in yfinance module."""

import sys
import types
from datetime import date

import pandas as pd
import pytest

from market.online import OnlinePricesError, download_prices
from market.prices import load_prices


def test_downloaded_bars_are_written_in_the_corpus_format(tmp_path, monkeypatch):
    calls = []

    def download(ticker, start, end, auto_adjust, progress):
        calls.append((ticker, start, end))
        if ticker == "GONE":
            return pd.DataFrame()
        index = pd.to_datetime(["2025-05-09", "2025-05-12"])
        columns = pd.MultiIndex.from_product([["Open", "High", "Low", "Close", "Adj Close", "Volume"], [ticker]])
        return pd.DataFrame([[10, 11, 9, 10.5, 10.4, 100], [11, 12, 10, 11.5, 11.4, 200]], index=index, columns=columns)

    monkeypatch.setitem(sys.modules, "yfinance", types.SimpleNamespace(download=download))
    problems = download_prices(["KWEB", "GONE"], date(2025, 5, 1), date(2025, 5, 12), tmp_path)
    assert problems == ["yfinance GONE: no data between 2025-05-01 and 2025-05-12"]
    assert ("KWEB", "2025-05-01", "2025-05-13") in calls  # end is inclusive
    prices = load_prices(tmp_path)
    assert prices.tickers == ["KWEB"]
    assert prices.price("KWEB").tolist() == [10.4, 11.4]  # adj_close preferred


def test_without_the_extra_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yfinance", None)  # import fails
    with pytest.raises(OnlinePricesError, match=r"pip install -e '\.\[online\]'"):
        download_prices(["KWEB"], date(2025, 1, 1), date(2025, 1, 2), tmp_path)
