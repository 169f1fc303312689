"""A library that starts a thread when it is imported: not fork-safe."""
import threading
import time

threading.Thread(target=time.sleep, args=(3600,), name="threadlib-poller", daemon=True).start()
