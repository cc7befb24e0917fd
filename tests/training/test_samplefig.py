import numpy as np
import torch
from PIL import Image

from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.models.meshregnet import MeshRegNet
from handobjectconsist.training.samplefig import save_sample_figure
from handobjectconsist.training.toy_data import ToyHandObjectDataset


def test_sample_figure_is_written(mano_root, tmp_path):
    dataset = ToyHandObjectDataset(mano_root, size=2, image_size=(32, 18), vary_obj_verts=True)
    batch = collate_samples([dataset[0], dataset[1]])
    with torch.no_grad():
        _, results, _ = MeshRegNet(mano_root, encoder_arch="tiny").eval()(batch)
    path = save_sample_figure(batch, results, tmp_path / "fig.png")
    image = np.asarray(Image.open(path))
    assert image.shape[0] > 100 and image.shape[1] > 300
    assert image[..., :3].std() > 0  # something was drawn
