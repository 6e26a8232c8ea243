"""Drives an InferX server with tritonclient (HTTP), as Triton's users and perf_analyzer do.

Usage: drive_tritonclient.py HOST:PORT MODEL INPUT.f32 SHAPE EXPECTED.f32

INPUT.f32 holds the model input (FP32, little-endian, row-major) of SHAPE (comma separated);
EXPECTED.f32 holds the first output of a local run on it. Prints one JSON line: what the server
answered and how far each way of inferring is from the local run. Every call the client makes
is one it makes for real users; errors are caught as InferenceServerException and formatted
with str() (which fails when the server's error is not the protocol's string).
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def refusal(call):
    """The status and message of the InferenceServerException `call` raises, or None."""
    try:
        call()
    except InferenceServerException as error:
        return {"status": error.status(), "text": str(error)}
    return None


def main():
    url, model, input_path, shape, expected_path = sys.argv[1:6]
    shape = [int(dim) for dim in shape.split(",")]
    data = np.fromfile(input_path, dtype="<f4").reshape(shape)
    expected = np.fromfile(expected_path, dtype="<f4")
    client = httpclient.InferenceServerClient(url=url, connection_timeout=30, network_timeout=120)
    summary = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "extensions": client.get_server_metadata()["extensions"],
        "max_batch_size": client.get_model_config(model)["max_batch_size"],
        "repository": client.get_model_repository_index(),
    }
    metadata = client.get_model_metadata(model)
    input_name = metadata["inputs"][0]["name"]
    output_name = metadata["outputs"][0]["name"]

    def infer(binary_in, binary_out, named_output=True):
        tensor = httpclient.InferInput(input_name, list(data.shape), "FP32")
        tensor.set_data_from_numpy(data, binary_data=binary_in)
        outputs = [httpclient.InferRequestedOutput(output_name, binary_data=binary_out)] if named_output else None
        result = client.infer(model, [tensor], outputs=outputs, request_id="tritonclient")
        got = result.as_numpy(output_name).reshape(-1)
        return float(np.max(np.abs(got - expected))) if got.shape == expected.shape else None

    # The client's default (binary both ways, every output), then each mix of JSON and binary.
    summary["worst"] = {
        "default": infer(True, True, named_output=False),
        "json_in_json_out": infer(False, False),
        "binary_in_json_out": infer(True, False),
        "json_in_binary_out": infer(False, True),
    }
    tensor = httpclient.InferInput(input_name, list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    summary["refused"] = {
        "unknown_model": refusal(lambda: client.infer("no-such-model", [tensor])),
        "unknown_version": refusal(lambda: client.get_model_metadata(model, model_version="7")),
        "unknown_path": refusal(lambda: client.get_trace_settings()),
        "statistics": refusal(lambda: client.get_inference_statistics(model)),
        "load": refusal(lambda: client.load_model(model)),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
