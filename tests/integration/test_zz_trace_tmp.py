import sys, json
from tests.integration.test_sync_handler import bridge, sandbox  # noqa
from tests.support import load_event

def test_trace(bridge):
    assert bridge.post(load_event("generic/mixed_contacts"))[0] == 202
    event = bridge.receive_event()
    mods = set(); classes = set()
    def prof(frame, ev, arg):
        if ev == "call":
            g = frame.f_globals.get("__name__", "")
            if g.startswith("heymarket_bridge"):
                mods.add(g)
            if frame.f_code.co_name == "__init__" and "self" in frame.f_locals:
                t = type(frame.f_locals["self"])
                if t.__module__.startswith("heymarket_bridge"):
                    classes.add(f"{t.__module__}.{t.__qualname__}")
    sys.setprofile(prof)
    try:
        bridge.sync(event)
    finally:
        sys.setprofile(None)
    json.dump({"mods": sorted(mods), "classes": sorted(classes), "loaded": sorted(m for m in sys.modules if m.startswith("heymarket_bridge"))}, open("/tmp/trace/out.json", "w"), indent=1)
