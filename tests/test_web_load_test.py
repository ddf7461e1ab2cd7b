"""The web server under concurrent clients: no error, bounded memory."""
from conftest import REPO, load_script


def test_concurrent_clients_get_answers():
    tool = load_script('demo', 'web_load_test.py')
    report = tool.main([
        str(REPO / 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'),
        '--random-weights', '--clients', '3', '--seconds', '4',
        '--upload-every', '4', '--image-size', '96', '128', '--scale', '128',
        '96', '--max-images', '16'
    ])
    kinds = report['kinds']
    assert kinds['prompt']['count'] > 3 and kinds['upload']['count'] >= 3
    assert kinds['prompt']['errors'] == {} and kinds['upload']['errors'] == {}
    assert report['rss_mb']['peak'] - report['rss_mb']['start'] < 300
