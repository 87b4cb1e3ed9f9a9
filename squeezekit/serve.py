"""Serve the browser demo: ``python -m squeezekit.serve web_demo/`` then open http://127.0.0.1:8000/.

Installs the page's pinned LiteRT.js (``npm ci``) the first time, then serves the folder with the headers that
make the page cross-origin isolated, so LiteRT.js can run its threaded WebAssembly build. Put a model in with
``python -m squeezekit.export ... --web_demo web_demo/``, or choose one on the page.
"""

from __future__ import annotations

import os

from squeezekit import cli

from absl import flags

flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0 to reach it from a phone on the same "
                    "network; camera access then needs https).")
flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
flags.DEFINE_bool("install", True, "Run npm ci in the demo folder when its LiteRT.js is not installed yet.")
FLAGS = flags.FLAGS

ADVICE = {"web_demo": "pass the web_demo/ folder of the squeezekit repository.",
          "port": "pass another --port (or --port 0 for any free one)."}


def main(argv):
    from squeezekit import webdemo

    folders = argv[1:]
    if len(folders) > 1:
        cli.fail(f"pass one folder, the web demo (web_demo/), not {len(folders)}.")
    demo = folders[0] if folders else webdemo.DEMO
    webdemo.check(demo)
    if not webdemo.installed(demo):
        if not FLAGS.install:
            cli.fail(f"LiteRT.js is not installed in {demo}: run npm ci there, or drop --noinstall.")
        webdemo.install(demo)
    httpd = webdemo.server(os.path.abspath(demo), FLAGS.host, FLAGS.port)
    host, port = httpd.server_address[:2]
    model = os.path.join(demo, webdemo.MODEL)
    print(f"serving {demo} at http://{host}:{port}/ (cross-origin isolated: LiteRT.js may use threads)")
    print(f"model: {model}" if os.path.isfile(model) else
          "no model yet: choose a .tflite on the page, or export one with --web_demo", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    cli.run(main, advice=ADVICE, positional=True)
