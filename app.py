"""Hugging Face Space entry point: the CaR demo (car/demo.py), ``python app.py``.

A Space (SDK: gradio, app_file: app.py) runs this file from the repository root, so ``car`` imports from the
checkout; with internet the demo runs real CLIP (OpenAI ViT-B/16 + ViT-L/14, downloaded on first use), without
weights the toy world. Locally the same app is ``python -m car demo``.
"""
from car.demo import build_app, serve

demo = build_app()  # the default limits (car.demo.Limits) keep a CPU Space alive under strangers' load

if __name__ == "__main__":
    serve(demo, host="0.0.0.0")
